package session

import (
	"strconv"
	"testing"
	"time"
)

func TestTheDecodedCacheIsBoundedAndForgetsExpiredEntries(t *testing.T) {
	var d decoded
	now := time.Unix(1_000_000, 0)
	for i := range decodedMax + 500 {
		d.put("cookie-"+strconv.Itoa(i), Payload{Token: "t", Email: "e"}, now)
	}
	if n := len(d.m); n > decodedMax {
		t.Errorf("the cache holds %d entries; want at most %d", n, decodedMax)
	}
	last := "cookie-" + strconv.Itoa(decodedMax+499)
	if _, ok := d.get(last, now); !ok {
		t.Error("the entry just put is not there")
	}
	if _, ok := d.get(last, now.Add(decodedTTL)); ok {
		t.Error("an entry is still served after its time")
	}
}

func TestACachedCookieDoesNotLetATamperedOneThrough(t *testing.T) {
	c, err := NewCodec("session", time.Hour, RandomKeys())
	if err != nil {
		t.Fatal(err)
	}
	v, err := c.Encode(Payload{Token: "tok", Email: "a@example.com"})
	if err != nil {
		t.Fatal(err)
	}
	for range 2 { // the second decode comes from the cache
		if p, err := c.Decode(v); err != nil || p.Email != "a@example.com" {
			t.Fatalf("Decode = %+v, %v", p, err)
		}
	}
	tampered := v[:len(v)-2] + "AA"
	if tampered == v {
		tampered = v[:len(v)-2] + "BB"
	}
	if _, err := c.Decode(tampered); err == nil {
		t.Error("a tampered cookie decoded")
	}
}
