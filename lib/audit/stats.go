package audit

import (
	"encoding/json"
	"strconv"
	"time"
)

// Stats is what the security console charts of the events a filter
// selects.
type Stats struct {
	// Total is how many events the filter selects.
	Total int `json:"total"`
	// From and To are the range covered; Interval each histogram
	// bucket's width.
	From     time.Time     `json:"from"`
	To       time.Time     `json:"to"`
	Interval time.Duration `json:"-"`
	// Histogram counts the events per interval, oldest first, by type and
	// by outcome.
	Histogram []Bucket `json:"histogram"`
	// The leaders: addresses, emails with failed logins (login_failure
	// events) and user agents, most events first.
	TopIPs          []Count `json:"top_ips"`
	TopFailedEmails []Count `json:"top_failed_emails"`
	TopUserAgents   []Count `json:"top_user_agents"`
	// LockedEmails is how many emails are locked out now (whatever the
	// filter: a lockout is a state, not an event).
	LockedEmails int `json:"locked_emails"`
	// Partial says the store ran out of time and counted only part.
	Partial bool `json:"partial"`
	// Sampled says the histogram and the leaders were counted over a
	// random sample of about SampleProbability × Total events and scaled
	// back up: estimates, where Total is exact. Only many events are
	// sampled (see the store's EventStats).
	Sampled           bool    `json:"sampled"`
	SampleProbability float64 `json:"sample_probability,omitempty"`
}

// MarshalJSON writes the stats with their interval as Elasticsearch
// writes it ("1h", "30d"), for the API and the command line alike.
func (s Stats) MarshalJSON() ([]byte, error) {
	type plain Stats
	return json.Marshal(struct {
		plain
		Interval string `json:"interval"`
	}{plain(s), IntervalName(s.Interval)})
}

// Bucket is one interval of the histogram.
type Bucket struct {
	At       time.Time `json:"at"`
	Count    int       `json:"count"`
	Events   []Count   `json:"events"`
	Outcomes []Count   `json:"outcomes"`
}

// Count is how many events have one value (a type, an address).
type Count struct {
	Key   string `json:"key"`
	Count int    `json:"count"`
}

// intervals are the histogram's bucket widths, from which StatsInterval
// picks: round numbers a chart's axis can name.
var intervals = []time.Duration{
	time.Minute, 5 * time.Minute, 15 * time.Minute, 30 * time.Minute,
	time.Hour, 3 * time.Hour, 6 * time.Hour, 12 * time.Hour,
	24 * time.Hour, 7 * 24 * time.Hour, 30 * 24 * time.Hour, 365 * 24 * time.Hour,
}

// MaxBuckets bounds the histogram: the interval grows with the range so
// that a range gives at most this many buckets (up to 60 years; the
// console's stats cover two at most).
const MaxBuckets = 60

// StatsInterval picks the histogram's interval for the range [from, to):
// the narrowest of intervals that gives at most MaxBuckets buckets.
func StatsInterval(from, to time.Time) time.Duration {
	span := to.Sub(from)
	for _, d := range intervals {
		if span <= d*MaxBuckets {
			return d
		}
	}
	return intervals[len(intervals)-1]
}

// IntervalName writes an interval as Elasticsearch's fixed_interval does:
// whole days, hours, minutes or seconds ("1d", "3h", "15m").
func IntervalName(d time.Duration) string {
	switch {
	case d >= 24*time.Hour && d%(24*time.Hour) == 0:
		return strconv.Itoa(int(d/(24*time.Hour))) + "d"
	case d >= time.Hour && d%time.Hour == 0:
		return strconv.Itoa(int(d/time.Hour)) + "h"
	case d >= time.Minute && d%time.Minute == 0:
		return strconv.Itoa(int(d/time.Minute)) + "m"
	}
	return strconv.Itoa(max(1, int(d/time.Second))) + "s"
}
