package elastic

import (
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
)

// indexDef is one of the store's indices: the alias every call uses, its
// mapping version, and its definition (settings and mappings, the version
// in the mapping's _meta), as sent to create it and put in its template.
type indexDef struct {
	name       string
	version    int
	definition string
}

// MappingVersion is the version of the mappings this esauth writes into
// each index's _meta (esauth_mapping_version). It goes up when a mapping
// changes in a way put mapping cannot make (a field's type), or when the
// documents stored before must be indexed again for a new subfield, and
// esauth migrate then copies the documents into a new index. Indices made
// before aliases have no version: 0.
//
// Version 2 (the security console) adds subfields: ip.addr (type ip, for
// CIDR filters) and user_agent.text (full text) to audit events and
// sessions, the events' device, network, new_device and detail, and prefix
// fields of users' email and names for search as you type. A server of
// version 2 runs on version-1 indices (put mapping adds the fields; events
// written from then on have them) and logs that esauth migrate should run:
// until it does, older events lack ip.addr and user_agent.text, and older
// users the prefix fields.
//
// Version 3 (the user search's facets) adds to users email_address.std
// (the standard analyzer's words, which keep digits: "user-123"), and
// last_login_at, passkeys and providers; migrate also counts each user's
// passkeys and linked providers into the copy (see BackfillUserFacets).
const MappingVersion = 3

// indices lists the store's indices, in the order set-up and migrate visit them.
func (s *Store) indices() []indexDef { return s.defs }

// buildDefs makes the definitions with the configured shards and replicas.
func buildDefs(names []string, shards int, replicas string) ([]indexDef, error) {
	settings, err := indexSettings(shards, replicas)
	if err != nil {
		return nil, err
	}
	mappings := []string{usersMapping, sessionsMapping, auditMapping, attemptsMapping, identitiesMapping, leasesMapping, tokensMapping, limitsMapping, credentialsMapping}
	defs := make([]indexDef, len(names))
	for i, name := range names {
		var base struct {
			Mappings map[string]json.RawMessage `json:"mappings"`
		}
		if err := json.Unmarshal([]byte(mappings[i]), &base); err != nil {
			panic(fmt.Sprintf("elastic: mapping of %s: %v", name, err)) // a constant of this package
		}
		meta, _ := json.Marshal(map[string]any{"esauth_mapping_version": MappingVersion, "managed_by": "esauth"})
		base.Mappings["_meta"] = meta
		def, _ := json.Marshal(map[string]any{"settings": settings, "mappings": base.Mappings})
		defs[i] = indexDef{name: name, version: MappingVersion, definition: string(def)}
	}
	return defs, nil
}

// indexSettings reads the shards and replicas settings: replicas is a
// number, or a range "0-1" (or "0-all") that Elasticsearch expands with the
// number of data nodes.
func indexSettings(shards int, replicas string) (map[string]any, error) {
	if shards == 0 {
		shards = 1
	}
	if replicas == "" {
		replicas = "0-1"
	}
	if shards < 1 || shards > 1024 {
		return nil, fmt.Errorf("shards: %d is not from 1 to 1024", shards)
	}
	out := map[string]any{"number_of_shards": shards}
	if lo, hi, ok := strings.Cut(replicas, "-"); ok {
		n, err := strconv.Atoi(lo)
		if _, err2 := strconv.Atoi(hi); err != nil || n < 0 || (err2 != nil && hi != "all") {
			return nil, fmt.Errorf("replicas: %q is not a number or a range such as 0-1", replicas)
		}
		out["number_of_replicas"], out["auto_expand_replicas"] = n, replicas
		return out, nil
	}
	n, err := strconv.Atoi(replicas)
	if err != nil || n < 0 {
		return nil, fmt.Errorf("replicas: %q is not a number or a range such as 0-1", replicas)
	}
	out["number_of_replicas"], out["auto_expand_replicas"] = n, false
	return out, nil
}

// IndexNames lists the store's indices (each has an index template of the
// same name).
func (s *Store) IndexNames() []string {
	var names []string
	for _, idx := range s.indices() {
		names = append(names, idx.name)
	}
	return names
}

// The mappings are strict: a document with a field not listed here is
// refused, so a bug can never add, say, a plaintext password next to the hash.

// usersMapping: password_hash is neither indexed nor kept in doc values, so
// it cannot be searched, sorted or aggregated on; it lives only in _source.
const usersMapping = `{
  "mappings": {
    "dynamic": "strict",
    "properties": {
      "email_address":       {"type": "keyword", "fields": {"words": {"type": "text", "analyzer": "simple", "index_prefixes": {"min_chars": 1, "max_chars": 10}}, "std": {"type": "text", "analyzer": "standard", "index_prefixes": {"min_chars": 1, "max_chars": 10}}}},
      "first_name":          {"type": "text", "fields": {"raw": {"type": "keyword", "ignore_above": 256}, "prefix": {"type": "text", "index_prefixes": {"min_chars": 1, "max_chars": 10}}}},
      "last_name":           {"type": "text", "fields": {"raw": {"type": "keyword", "ignore_above": 256}, "prefix": {"type": "text", "index_prefixes": {"min_chars": 1, "max_chars": 10}}}},
      "password_hash":       {"type": "keyword", "index": false, "doc_values": false},
      "role":                {"type": "keyword"},
      "is_active":           {"type": "boolean"},
      "created_at":          {"type": "date"},
      "updated_at":          {"type": "date"},
      "password_changed_at": {"type": "date"},
      "failed_logins":       {"type": "integer"},
      "locked_until":        {"type": "date"},
      "session_epoch":       {"type": "keyword"},
      "email_verified_at":   {"type": "date"},
      "totp_secret":         {"type": "keyword", "index": false, "doc_values": false},
      "totp_enabled_at":     {"type": "date"},
      "totp_last_step":      {"type": "long"},
      "recovery_codes":      {"type": "keyword", "index": false, "doc_values": false},
      "webauthn_user_handle": {"type": "keyword"},
      "last_login_at":       {"type": "date"},
      "passkeys":            {"type": "integer"},
      "providers":           {"type": "keyword"}
    }
  }
}`

const sessionsMapping = `{
  "mappings": {
    "dynamic": "strict",
    "properties": {
      "id":            {"type": "keyword"},
      "email_address": {"type": "keyword"},
      "created_at":    {"type": "date"},
      "expires_at":    {"type": "date"},
      "last_seen_at":  {"type": "date"},
      "remember":      {"type": "boolean"},
      "user_agent":    {"type": "keyword", "ignore_above": 512, "fields": {"text": {"type": "text"}}},
      "ip":            {"type": "keyword", "fields": {"addr": {"type": "ip", "ignore_malformed": true}}},
      "user_epoch":    {"type": "keyword"},
      "second_factor": {"type": "boolean"},
      "pending":       {"type": "boolean"}
    }
  }
}`

// auditMapping: one document per security event, written once and never
// updated (op_type create).
const auditMapping = `{
  "mappings": {
    "dynamic": "strict",
    "properties": {
      "event_id":   {"type": "keyword"},
      "event":      {"type": "keyword"},
      "email":      {"type": "keyword"},
      "actor":      {"type": "keyword"},
      "ip":         {"type": "keyword", "fields": {"addr": {"type": "ip", "ignore_malformed": true}}},
      "user_agent": {"type": "keyword", "ignore_above": 512, "fields": {"text": {"type": "text"}}},
      "at":         {"type": "date"},
      "outcome":    {"type": "keyword"},
      "device":     {"type": "keyword", "ignore_above": 128},
      "network":    {"type": "keyword"},
      "new_device": {"type": "boolean"},
      "detail":     {"type": "keyword", "ignore_above": 2048}
    }
  }
}`

// attemptsMapping: failed-password counts, one document per email that has
// failed at least once, whether or not an account has it. The _id is the
// hex SHA-256 of the normalized email, so the index never holds what was
// typed in the email box, and a real account and an unknown email cost
// the same reads and writes.
const attemptsMapping = `{
  "mappings": {
    "dynamic": "strict",
    "properties": {
      "failures":     {"type": "integer"},
      "locked_until": {"type": "date"},
      "updated_at":   {"type": "date"},
      "expires_at":   {"type": "date"},
      "email_address": {"type": "keyword"}
    }
  }
}`

// identitiesMapping: one document per account at an external provider
// linked to a user, with id "<provider>:<subject>" (created with op_type
// create, so one provider account links to at most one user).
const identitiesMapping = `{
  "mappings": {
    "dynamic": "strict",
    "properties": {
      "provider":        {"type": "keyword"},
      "subject":         {"type": "keyword"},
      "email_address":   {"type": "keyword"},
      "user_created_at": {"type": "date"},
      "provider_email":  {"type": "keyword", "index": false, "doc_values": false},
      "created_at":      {"type": "date"}
    }
  }
}`

// leasesMapping: one document per lease (see TakeLease), id the lease's name.
const leasesMapping = `{
  "mappings": {
    "dynamic": "strict",
    "properties": {
      "holder":     {"type": "keyword"},
      "taken_at":   {"type": "date"},
      "expires_at": {"type": "date"}
    }
  }
}`

// tokensMapping: one document per one-time token (see UseToken), id the
// hex SHA-256 of its secret; the secret is stored nowhere.
const tokensMapping = `{
  "mappings": {
    "dynamic": "strict",
    "properties": {
      "purpose":         {"type": "keyword"},
      "email_address":   {"type": "keyword"},
      "user_created_at": {"type": "date"},
      "user_password_changed_at": {"type": "date"},
      "created_at":    {"type": "date"},
      "expires_at":    {"type": "date"}
    }
  }
}`

// limitsMapping: one document per rate limit, key and instance (see
// PutUsage): the tokens that instance took from that bucket. The key is a
// digest (lib/limit), never the address or email.
const limitsMapping = `{
  "mappings": {
    "dynamic": "strict",
    "properties": {
      "limit":      {"type": "keyword"},
      "key":        {"type": "keyword"},
      "instance":   {"type": "keyword"},
      "used":       {"type": "long"},
      "updated_at": {"type": "date"},
      "expires_at": {"type": "date"}
    }
  }
}`

// credentialsMapping: one document per passkey (WebAuthn credential), id
// its credential id in base64url (created with op_type create, so one
// credential belongs to at most one user). The public key is kept in
// _source only.
const credentialsMapping = `{
  "mappings": {
    "dynamic": "strict",
    "properties": {
      "email_address":      {"type": "keyword"},
      "user_created_at":    {"type": "date"},
      "public_key":         {"type": "binary"},
      "sign_count":         {"type": "long"},
      "aaguid":             {"type": "keyword"},
      "transports":         {"type": "keyword"},
      "attachment":         {"type": "keyword"},
      "attestation_type":   {"type": "keyword"},
      "attestation_format": {"type": "keyword"},
      "user_verified":      {"type": "boolean"},
      "backup_eligible":    {"type": "boolean"},
      "backup_state":       {"type": "boolean"},
      "name":               {"type": "text", "fields": {"raw": {"type": "keyword", "ignore_above": 256}}},
      "created_at":         {"type": "date"},
      "last_used_at":       {"type": "date"}
    }
  }
}`
