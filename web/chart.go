package web

import (
	"fmt"
	"strings"
	"time"

	"esauth/lib/audit"
	"esauth/lib/mail"
)

// chart is the events page's histogram as an SVG drawn on the server: no
// chart library and no script in the browser, and nothing a
// Content-Security-Policy without inline styles refuses (shapes carry
// classes, the stylesheet colours them). Each bar stacks its events by
// outcome and names its count in a <title> (a tooltip, and what a screen
// reader reads); the summary is the SVG's <desc>.
type chart struct {
	Width, Height int
	Bars          []chartBar
	Labels        []chartLabel // times under the axis
	Max           int          // the tallest bar's count, named at the top
	Title, Desc   string
}

type chartBar struct {
	X, W     int
	Segments []chartSegment
	Label    string // "2026-12-01 10:00 UTC: 12 events (3 failed)"
}

type chartSegment struct {
	Y, H  int
	Class string // bar-success, bar-failure, bar-refused
}

type chartLabel struct {
	X, Y   int
	Anchor string // start, middle or end: the last label ends at the right edge
	Text   string
}

// The chart's geometry, in the viewBox's units: the stylesheet scales it
// to the page's width.
const (
	chartWidth  = 600
	chartHeight = 160
	chartAxis   = 20 // below the bars, for the time labels
	chartTop    = 14 // above, for the maximum's label
)

// newChart draws st's histogram; nil when it has no bucket.
func newChart(st audit.Stats) *chart {
	n := len(st.Histogram)
	if n == 0 {
		return nil
	}
	c := &chart{Width: chartWidth, Height: chartHeight + chartAxis + chartTop}
	for _, b := range st.Histogram {
		c.Max = max(c.Max, b.Count)
	}
	slot := chartWidth / n
	bar := max(slot-max(slot/5, 1), 1)
	format := timeFormat(st.Interval)
	for i, b := range st.Histogram {
		x := i * slot
		ok, failed, refused := outcomeCounts(b)
		cb := chartBar{X: x, W: bar, Label: fmt.Sprintf("%s: %d events (%d succeeded, %d failed, %d refused)", b.At.UTC().Format(format), b.Count, ok, failed, refused)}
		base := chartTop + chartHeight
		for _, s := range []struct {
			n     int
			class string
		}{{ok, "bar-success"}, {failed, "bar-failure"}, {refused, "bar-refused"}} {
			if s.n == 0 || c.Max == 0 {
				continue
			}
			h := max(s.n*chartHeight/c.Max, 1)
			base -= h
			cb.Segments = append(cb.Segments, chartSegment{Y: base, H: h, Class: s.class})
		}
		c.Bars = append(c.Bars, cb)
	}
	// Three labels: the first bucket, the middle one, the last.
	for k, i := range []int{0, n / 2, n - 1} {
		if k > 0 && i == 0 || k == 2 && i == n/2 {
			continue // fewer than three bars
		}
		l := chartLabel{X: i * slot, Y: chartTop + chartHeight + chartAxis - 5, Anchor: "start", Text: st.Histogram[i].At.UTC().Format(format)}
		switch {
		case k == 2:
			l.X, l.Anchor = chartWidth, "end"
		case k == 1:
			l.X, l.Anchor = i*slot+bar/2, "middle"
		}
		c.Labels = append(c.Labels, l)
	}
	c.Title = fmt.Sprintf("Security events per %s", intervalWords(st.Interval))
	c.Desc = fmt.Sprintf("%d events from %s to %s in %d bars of %s; the tallest has %d.", st.Total,
		st.From.UTC().Format(format), st.To.UTC().Format(format), n, intervalWords(st.Interval), c.Max)
	return c
}

// outcomeCounts splits a bucket by outcome class: a refusal's outcome
// carries its reason ("refused: origin").
func outcomeCounts(b audit.Bucket) (ok, failed, refused int) {
	for _, o := range b.Outcomes {
		switch {
		case o.Key == audit.Success:
			ok += o.Count
		case o.Key == audit.Failure:
			failed += o.Count
		default:
			refused += o.Count
		}
	}
	return ok, failed, refused
}

// timeFormat names a bucket's time as precisely as its width needs.
func timeFormat(interval time.Duration) string {
	if interval >= 24*time.Hour {
		return "2006-01-02"
	}
	return "2006-01-02 15:04 UTC"
}

// intervalWords says an interval as a person would: "hour", "30 minutes".
func intervalWords(d time.Duration) string {
	if d == 24*time.Hour {
		return "day"
	}
	name := mail.HumanDuration(d)
	if strings.HasPrefix(name, "1 ") {
		return strings.TrimPrefix(name, "1 ")
	}
	return name
}
