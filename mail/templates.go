package mail

import (
	"bytes"
	"embed"
	"errors"
	"fmt"
	htmltemplate "html/template"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	texttemplate "text/template"
)

// The kinds of message Ironclad sends. Each has three templates:
// KIND.subject.txt, KIND.txt and KIND.html.
const (
	KindReset           = "reset"            // a password-reset link and code
	KindVerify          = "verify"           // an email-verification link and code
	KindPasswordChanged = "password_changed" // notice after a reset
	KindEmailChanged    = "email_changed"    // notice to the old address
)

// Kinds lists every kind of message.
var Kinds = []string{KindReset, KindVerify, KindPasswordChanged, KindEmailChanged}

//go:embed templates/*
var embedded embed.FS

// Data is what a template sees.
type Data struct {
	AppName  string
	Username string
	Email    string // verify: the address to confirm; email_changed: the new address
	Link     string // reset and verify only
	Code     string // reset and verify only: the link's token as 8 characters
	Expires  string // how long the link and code work, e.g. "30 minutes"
}

// Templates renders messages: the embedded templates, each replaceable by a
// file of the same name in a folder (MAIL_TEMPLATES_DIR).
type Templates struct {
	subject map[string]*texttemplate.Template
	text    map[string]*texttemplate.Template
	html    map[string]*htmltemplate.Template
}

// LoadTemplates parses every template, taking each file from dir when it
// is there (dir "" means the embedded ones only), and renders each once
// with sample data so that a broken template stops startup, not a reset.
func LoadTemplates(dir string) (*Templates, error) {
	t := &Templates{subject: map[string]*texttemplate.Template{}, text: map[string]*texttemplate.Template{}, html: map[string]*htmltemplate.Template{}}
	if dir != "" {
		if fi, err := os.Stat(dir); err != nil || !fi.IsDir() {
			return nil, errors.New("not a readable folder")
		}
	}
	read := func(name string) (string, error) {
		if dir != "" {
			b, err := os.ReadFile(filepath.Join(dir, name))
			if err == nil {
				return string(b), nil
			}
			if !errors.Is(err, fs.ErrNotExist) {
				return "", fmt.Errorf("%s: %w", name, err)
			}
		}
		b, err := embedded.ReadFile("templates/" + name)
		return string(b), err
	}
	for _, k := range Kinds {
		src, err := read(k + ".subject.txt")
		if err != nil {
			return nil, err
		}
		if t.subject[k], err = texttemplate.New(k + ".subject.txt").Option("missingkey=error").Parse(src); err != nil {
			return nil, err
		}
		if src, err = read(k + ".txt"); err != nil {
			return nil, err
		}
		if t.text[k], err = texttemplate.New(k + ".txt").Option("missingkey=error").Parse(src); err != nil {
			return nil, err
		}
		if src, err = read(k + ".html"); err != nil {
			return nil, err
		}
		if t.html[k], err = htmltemplate.New(k + ".html").Option("missingkey=error").Parse(src); err != nil {
			return nil, err
		}
		sample := Data{AppName: "Ironclad", Username: "alice", Email: "alice@example.com", Link: "https://app.example.com/x#token=t", Code: "ABCDEFGH", Expires: "30 minutes"}
		if _, err := t.Render(k, "alice@example.com", sample); err != nil {
			return nil, err
		}
	}
	return t, nil
}

// Render renders one message of kind to the address to.
func (t *Templates) Render(kind, to string, d Data) (Message, error) {
	st, ok := t.subject[kind]
	if !ok {
		return Message{}, fmt.Errorf("mail: unknown kind %q", kind)
	}
	var subj, text, html bytes.Buffer
	if err := st.Execute(&subj, d); err != nil {
		return Message{}, err
	}
	if err := t.text[kind].Execute(&text, d); err != nil {
		return Message{}, err
	}
	if err := t.html[kind].Execute(&html, d); err != nil {
		return Message{}, err
	}
	// A subject is one line: a template must not inject headers.
	s := strings.Join(strings.Fields(subj.String()), " ")
	return Message{Kind: kind, To: to, Subject: s, Text: text.String(), HTML: html.String(), Link: d.Link}, nil
}

// Message is one rendered mail.
type Message struct {
	Kind    string `json:"kind"`
	To      string `json:"to"`
	Subject string `json:"subject"`
	Text    string `json:"text"`
	HTML    string `json:"html"`
	// Link is the message's link, if any: the development log and mailbox
	// show it. It carries a token: never log it in production.
	Link string `json:"link,omitempty"`
}
