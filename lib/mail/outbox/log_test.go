package outbox

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"
)

func TestLogSenderLogsTheLinksAndNeverTheBodies(t *testing.T) {
	core, logs := observer.New(zap.DebugLevel)
	l := NewLog(zap.New(core))

	startup := logs.TakeAll()
	if len(startup) != 1 || startup[0].Level != zapcore.WarnLevel || !strings.Contains(startup[0].Message, "not configured") {
		t.Fatalf("startup logs %v, want one WARN that mail is not configured", startup)
	}

	const link = "https://auth.example.com/v1/verify?token=secret-token-123"
	m := newComposer(t).Verification("ada@example.com", "Ada", link, 24*time.Hour)
	m.HTML = strings.Replace(m.HTML, "</main>", "<p>html-only-marker</p></main>", 1)
	if err := l.Send(context.Background(), m); err != nil {
		t.Fatal(err)
	}

	entries := logs.TakeAll()
	if len(entries) != 1 || entries[0].Level != zapcore.WarnLevel {
		t.Fatalf("logged %v, want one WARN", entries)
	}
	fields := entries[0].ContextMap()
	if fields["to"] != "ada@example.com" || fields["subject"] != "Confirm your email address" {
		t.Errorf("fields %v lack the recipient or subject", fields)
	}
	if got := fmt.Sprint(fields["links"]); got != "["+link+"]" {
		t.Errorf("links %s, want [%s]", got, link)
	}
	all := entries[0].Message + fmt.Sprint(fields)
	for _, s := range []string{"html-only-marker", "<html", "Hello Ada", "valid for"} {
		if strings.Contains(all, s) {
			t.Errorf("the log holds body text %q: %s", s, all)
		}
	}
}

func TestLinks(t *testing.T) {
	tests := []struct {
		name, text string
		want       []string
	}{
		{"none", "no links here", nil},
		{"one on its own line", "open\n\nhttps://a.example/x?t=1&u=2\n\nthanks", []string{"https://a.example/x?t=1&u=2"}},
		{"sentence punctuation is not part of it", "reset at https://a.example/forgot-password.", []string{"https://a.example/forgot-password"}},
		{"two", "http://a.example/1 and (https://b.example/2)", []string{"http://a.example/1", "https://b.example/2"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := links(tt.text); fmt.Sprint(got) != fmt.Sprint(tt.want) {
				t.Errorf("links = %q, want %q", got, tt.want)
			}
		})
	}
}
