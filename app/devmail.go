package app

import (
	"encoding/json"
	"html/template"
	"net/http"
	"time"
)

// DevMailPath is the development mailbox: the last mails, with their links.
// It exists only outside production.
const DevMailPath = "/dev/mail"

// devMailLimit is how many mails the mailbox lists.
const devMailLimit = 50

// devMail is one mail as the mailbox shows it.
type devMail struct {
	ID        string     `json:"id"`
	Kind      string     `json:"kind"`
	To        string     `json:"to"`
	Subject   string     `json:"subject"`
	Link      string     `json:"link,omitempty"`
	Text      string     `json:"text"`
	CreatedAt time.Time  `json:"createdAt"`
	SentAt    *time.Time `json:"sentAt,omitempty"`
	FailedAt  *time.Time `json:"failedAt,omitempty"`
}

var devMailPage = template.Must(template.New("devmail").Parse(`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Development mailbox</title>
<style>body{font:15px system-ui,sans-serif;margin:2rem;max-width:60rem}article{border-bottom:1px solid #ccc;padding:.8rem 0}
pre{white-space:pre-wrap;background:#f6f6f6;padding:.6rem}small{color:#666}</style></head><body>
<h1>Development mailbox</h1>
<p>The last {{.Limit}} mails this deployment queued, newest first (they live in the outbox table, so every replica shows the same). Not served in production.</p>
{{range .Mails}}<article><h2>{{.Subject}}</h2><small>{{.Kind}} to {{.To}} at {{.CreatedAt.Format "2006-01-02 15:04:05"}} UTC</small>
{{if .Link}}<p><a href="{{.Link}}">{{.Link}}</a></p>{{end}}<pre>{{.Text}}</pre></article>
{{else}}<p>No mail yet.</p>{{end}}
</body></html>`))

// devMailHandler serves the development mailbox: HTML, or JSON for
// Accept: application/json (scripts and browser tests read that).
func (a *App) devMailHandler(w http.ResponseWriter, r *http.Request) {
	rows, err := a.Store.RecentOutbox(r.Context(), devMailLimit)
	if err != nil {
		a.Log.WarnContext(r.Context(), "dev mailbox: outbox unavailable", "err", err)
		http.Error(w, "database unavailable", http.StatusServiceUnavailable)
		return
	}
	out := make([]devMail, 0, len(rows))
	for i := range rows {
		msg, err := a.Mail.Open(&rows[i])
		if err != nil {
			continue // sealed under another JWT_SECRET
		}
		out = append(out, devMail{ID: rows[i].ID, Kind: msg.Kind, To: msg.To, Subject: msg.Subject, Link: msg.Link, Text: msg.Text,
			CreatedAt: rows[i].CreatedAt, SentAt: rows[i].SentAt, FailedAt: rows[i].FailedAt})
	}
	w.Header().Set("Cache-Control", "no-store")
	if r.Header.Get("Accept") == "application/json" {
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(map[string]any{"mails": out})
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	_ = devMailPage.Execute(w, map[string]any{"Mails": out, "Limit": devMailLimit})
}
