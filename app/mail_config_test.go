package app_test

import (
	"strings"
	"testing"

	"github.com/ironclad-auth/ironclad/app"
	"github.com/ironclad-auth/ironclad/app/apptest"
)

func loadEnv(m map[string]string) (app.Config, error) {
	return app.LoadConfig(func(k string) string { return m[k] })
}

// TestMailConfig: SMTP_URL is parsed without ever repeating its password,
// and production refuses mail settings that would leak reset tokens or lock
// everyone out.
func TestMailConfig(t *testing.T) {
	prod := func(extra map[string]string) map[string]string {
		m := map[string]string{"APP_ENV": "production", "JWT_SECRET": apptest.Secret, "DATABASE_URL": "postgres://db/x"}
		for k, v := range extra {
			m[k] = v
		}
		return m
	}
	good := map[string]string{"SMTP_URL": "smtps://u:hunter2secret@mail.example.com", "MAIL_FROM": "App <no-reply@example.com>", "APP_URL": "https://app.example.com/"}
	c, err := loadEnv(prod(good))
	if err != nil {
		t.Fatalf("good production mail config refused: %v", err)
	}
	if c.SMTP.Port != 465 || !c.SMTP.ImplicitTLS || c.SMTP.Password != "hunter2secret" || c.AppURL != "https://app.example.com" {
		t.Fatalf("parsed %+v, app url %q", c.SMTP, c.AppURL)
	}
	if strings.Contains(c.SMTP.String(), "hunter2") {
		t.Fatal("SMTP.String shows the password")
	}
	if c, _ := loadEnv(map[string]string{"SMTP_URL": "smtp://mail.example.com"}); c.SMTP.Port != 587 || !c.SMTP.StartTLS {
		t.Fatalf("smtp:// = %+v, want port 587 with STARTTLS required", c.SMTP)
	}
	cases := []struct {
		name string
		env  map[string]string
		want string
	}{
		{"not smtp", map[string]string{"SMTP_URL": "http://u:hunter2secret@x"}, "SMTP_URL"},
		{"unknown parameter", map[string]string{"SMTP_URL": "smtp://u:hunter2secret@x?tls=no"}, "SMTP_URL"},
		{"bad port", map[string]string{"SMTP_URL": "smtp://u:hunter2secret@x:99999"}, "SMTP_URL"},
		{"bad verification", map[string]string{"EMAIL_VERIFICATION": "maybe"}, "EMAIL_VERIFICATION"},
		{"bad from", map[string]string{"MAIL_FROM": "not an address"}, "MAIL_FROM"},
		{"short reset ttl", map[string]string{"PASSWORD_RESET_TTL": "1s"}, "PASSWORD_RESET_TTL"},
		{"production http app url", prod(map[string]string{"SMTP_URL": good["SMTP_URL"], "MAIL_FROM": good["MAIL_FROM"], "APP_URL": "http://app.example.com"}), "APP_URL"},
		{"production no app url", prod(map[string]string{"SMTP_URL": good["SMTP_URL"], "MAIL_FROM": good["MAIL_FROM"]}), "APP_URL"},
		{"production no sender", prod(map[string]string{"SMTP_URL": good["SMTP_URL"], "APP_URL": good["APP_URL"]}), "MAIL_FROM"},
		{"production plain remote", prod(map[string]string{"SMTP_URL": "smtp://u:hunter2secret@mail.example.com?starttls=off", "MAIL_FROM": good["MAIL_FROM"], "APP_URL": good["APP_URL"]}), "starttls=off"},
		{"production required without smtp", prod(map[string]string{"EMAIL_VERIFICATION": "required"}), "EMAIL_VERIFICATION"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := loadEnv(tc.env)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("LoadConfig error = %v, want one naming %s", err, tc.want)
			}
			if strings.Contains(err.Error(), "hunter2") {
				t.Fatalf("the error repeats the SMTP password: %v", err)
			}
		})
	}
	// A local relay without TLS is fine in production.
	if _, err := loadEnv(prod(map[string]string{"SMTP_URL": "smtp://127.0.0.1:25?starttls=off", "MAIL_FROM": good["MAIL_FROM"], "APP_URL": good["APP_URL"]})); err != nil {
		t.Fatalf("loopback relay refused: %v", err)
	}
}
