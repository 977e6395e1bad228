package mail

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestTemplatesDir: a file in MAIL_TEMPLATES_DIR replaces its built-in
// template, the others stay, and a broken one stops startup.
func TestTemplatesDir(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "reset.subject.txt"), []byte("{{.AppName}}: new password\nInjected: header"), 0o600); err != nil {
		t.Fatal(err)
	}
	tpl, err := LoadTemplates(dir)
	if err != nil {
		t.Fatal(err)
	}
	m, err := tpl.Render(KindReset, "a@example.com", Data{AppName: "Acme", Username: "a", Link: "https://x/#token=t", Code: "ABCDEFGH", Expires: "30 minutes"})
	if err != nil {
		t.Fatal(err)
	}
	if m.Subject != "Acme: new password Injected: header" || !strings.Contains(m.Text, "ABCDEFGH") {
		t.Fatalf("subject %q (one line), text %q", m.Subject, m.Text)
	}
	if err := os.WriteFile(filepath.Join(dir, "verify.html"), []byte("{{.Nope}}"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := LoadTemplates(dir); err == nil {
		t.Fatal("a template naming an unknown field was accepted")
	}
	if _, err := LoadTemplates(filepath.Join(dir, "missing")); err == nil {
		t.Fatal("a missing folder was accepted")
	}
}
