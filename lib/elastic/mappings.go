package elastic

// indexDef is one of the store's indices and its definition (settings and
// mappings), as sent to create it and put in its index template.
type indexDef struct {
	name       string
	definition string
}

// indices lists the store's indices, in the order set-up and repair visit them.
func (s *Store) indices() []indexDef {
	return []indexDef{
		{s.users, usersMapping},
		{s.sessions, sessionsMapping},
		{s.audit, auditMapping},
		{s.attempts, attemptsMapping},
		{s.identities, identitiesMapping},
		{s.leases, leasesMapping},
	}
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
  "settings": {"number_of_shards": 1, "number_of_replicas": 0, "auto_expand_replicas": "0-1"},
  "mappings": {
    "dynamic": "strict",
    "properties": {
      "email_address":       {"type": "keyword"},
      "first_name":          {"type": "text", "fields": {"raw": {"type": "keyword", "ignore_above": 256}}},
      "last_name":           {"type": "text", "fields": {"raw": {"type": "keyword", "ignore_above": 256}}},
      "password_hash":       {"type": "keyword", "index": false, "doc_values": false},
      "role":                {"type": "keyword"},
      "is_active":           {"type": "boolean"},
      "created_at":          {"type": "date"},
      "updated_at":          {"type": "date"},
      "password_changed_at": {"type": "date"},
      "failed_logins":       {"type": "integer"},
      "locked_until":        {"type": "date"},
      "session_epoch":       {"type": "keyword"}
    }
  }
}`

const sessionsMapping = `{
  "settings": {"number_of_shards": 1, "number_of_replicas": 0, "auto_expand_replicas": "0-1"},
  "mappings": {
    "dynamic": "strict",
    "properties": {
      "id":            {"type": "keyword"},
      "email_address": {"type": "keyword"},
      "created_at":    {"type": "date"},
      "expires_at":    {"type": "date"},
      "last_seen_at":  {"type": "date"},
      "remember":      {"type": "boolean"},
      "user_agent":    {"type": "keyword", "ignore_above": 512},
      "ip":            {"type": "keyword"},
      "user_epoch":    {"type": "keyword"}
    }
  }
}`

// auditMapping: one document per security event, written once and never
// updated (op_type create).
const auditMapping = `{
  "settings": {"number_of_shards": 1, "number_of_replicas": 0, "auto_expand_replicas": "0-1"},
  "mappings": {
    "dynamic": "strict",
    "properties": {
      "event_id":   {"type": "keyword"},
      "event":      {"type": "keyword"},
      "email":      {"type": "keyword"},
      "actor":      {"type": "keyword"},
      "ip":         {"type": "keyword"},
      "user_agent": {"type": "keyword", "ignore_above": 512},
      "at":         {"type": "date"},
      "outcome":    {"type": "keyword"}
    }
  }
}`

// attemptsMapping: failed-password counts, one document per email that has
// failed at least once, whether or not an account has it. The _id is the
// hex SHA-256 of the normalized email, so the index never holds what was
// typed in the email box, and a real account and an unknown email cost
// the same reads and writes.
const attemptsMapping = `{
  "settings": {"number_of_shards": 1, "number_of_replicas": 0, "auto_expand_replicas": "0-1"},
  "mappings": {
    "dynamic": "strict",
    "properties": {
      "failures":     {"type": "integer"},
      "locked_until": {"type": "date"},
      "updated_at":   {"type": "date"},
      "expires_at":   {"type": "date"}
    }
  }
}`

// identitiesMapping: one document per account at an external provider
// linked to a user, with id "<provider>:<subject>" (created with op_type
// create, so one provider account links to at most one user).
const identitiesMapping = `{
  "settings": {"number_of_shards": 1, "number_of_replicas": 0, "auto_expand_replicas": "0-1"},
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
  "settings": {"number_of_shards": 1, "number_of_replicas": 0, "auto_expand_replicas": "0-1"},
  "mappings": {
    "dynamic": "strict",
    "properties": {
      "holder":     {"type": "keyword"},
      "taken_at":   {"type": "date"},
      "expires_at": {"type": "date"}
    }
  }
}`
