package auth

import (
	"bufio"
	"bytes"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"
)

// The file formats `ironclad import users` reads, each turned into
// importRows one at a time: the file is streamed, never held in memory.
//
//   - django: the output of `python manage.py dumpdata auth.user` (or of a
//     custom user model with the same fields): a JSON array of
//     {"model": …, "pk": …, "fields": {"username", "password", "email",
//     "is_active", "is_staff", "is_superuser", "date_joined", "last_login",
//     "first_name", "last_name"[, "email_verified"]}}.
//   - json: a JSON array (or one object per line) of {"username", "email",
//     "password_hash", "is_active", "is_admin", "date_joined", "last_login",
//     "email_verified"[, "display_name"]}.
//   - csv: the same columns as json, by header name, in any order.

// Import formats.
const (
	FormatAuto   = "auto" // csv for a .csv file, else JSON, Django or plain by each record's shape
	FormatDjango = "django"
	FormatJSON   = "json"
	FormatCSV    = "csv"
)

// importRow is one account of an import file, in any format.
type importRow struct {
	line, record int // where it starts in the file (1-based), and its position
	username     string
	email        string
	displayName  string
	hash         string
	active       bool
	superuser    bool // Django's is_superuser
	staff        bool // Django's is_staff
	admin        bool // the plain formats' is_admin
	django       bool // the row came from a Django dump
	joined       *time.Time
	lastLogin    *time.Time
	verified     bool
	err          error // the row cannot be imported, and why
}

// rowReader yields the rows of an import file; io.EOF ends it. An error
// other than io.EOF means the file cannot be read further (a syntax error
// that loses the reader's place); an unusable row is a row with err set.
type rowReader interface{ next() (*importRow, error) }

// newRowReader returns the reader for format; name (the file's name) picks
// the format when it is FormatAuto.
func newRowReader(r io.Reader, format, name string) (rowReader, error) {
	switch format {
	case "", FormatAuto:
		if strings.HasSuffix(strings.ToLower(name), ".csv") {
			return newCSVRows(r)
		}
		return newJSONRows(r, ""), nil
	case FormatDjango, FormatJSON:
		return newJSONRows(r, format), nil
	case FormatCSV:
		return newCSVRows(r)
	}
	return nil, fmt.Errorf("unknown format %q (want auto, django, json or csv)", format)
}

// lineCounter counts the lines of what it reads, so that a byte offset can
// be turned into a line number. Offsets must be asked in increasing order;
// it keeps only the newlines not yet passed, so its memory is bounded by the
// reader's buffering, not the file.
type lineCounter struct {
	r      io.Reader
	off    int64   // bytes read so far
	nl     []int64 // offsets of newlines not yet passed
	passed int     // newlines before the last offset asked
}

func (c *lineCounter) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	for i, b := range p[:n] {
		if b == '\n' {
			c.nl = append(c.nl, c.off+int64(i))
		}
	}
	c.off += int64(n)
	return n, err
}

// lineAt returns the 1-based line of byte offset off.
func (c *lineCounter) lineAt(off int64) int {
	i := 0
	for i < len(c.nl) && c.nl[i] < off {
		i++
	}
	c.passed += i
	c.nl = c.nl[i:]
	return c.passed + 1
}

// jsonRows reads a JSON array of records, or a stream of records (JSON
// Lines), of the django or plain shape.
type jsonRows struct {
	lc      *lineCounter
	dec     *json.Decoder
	format  string // FormatDjango, FormatJSON or "" (by shape)
	started bool
	array   bool
	skipped int64 // bytes before the first value, which the decoder never saw
	record  int
}

func newJSONRows(r io.Reader, format string) *jsonRows {
	lc := &lineCounter{r: r}
	dec := json.NewDecoder(bufio.NewReader(lc))
	dec.UseNumber()
	return &jsonRows{lc: lc, dec: dec, format: format}
}

func (j *jsonRows) next() (*importRow, error) {
	if !j.started {
		j.started = true
		tok, err := j.peekDelim()
		if err != nil {
			return nil, err
		}
		j.array = tok == '['
	}
	if j.array && !j.dec.More() {
		return nil, io.EOF
	}
	var raw json.RawMessage
	if err := j.dec.Decode(&raw); err != nil {
		if errors.Is(err, io.EOF) && !j.array {
			return nil, io.EOF
		}
		return nil, fmt.Errorf("line %d: %w", j.lc.lineAt(j.skipped+j.dec.InputOffset()), err)
	}
	j.record++
	row := &importRow{record: j.record, line: j.lc.lineAt(j.skipped + j.dec.InputOffset() - int64(len(raw)))}
	var probe map[string]json.RawMessage
	if err := json.Unmarshal(raw, &probe); err != nil {
		row.err = errors.New("not a JSON object")
		return row, nil
	}
	_, hasFields := probe["fields"]
	switch {
	case j.format == FormatDjango || (j.format == "" && hasFields):
		row.django = true
		row.err = row.fromDjango(probe["fields"])
	default:
		row.err = row.fromPlain(func(k string) (json.RawMessage, bool) { v, ok := probe[k]; return v, ok })
	}
	return row, nil
}

// peekDelim consumes a leading '[' (an array of records) and reports it; for
// a stream of objects it consumes nothing.
func (j *jsonRows) peekDelim() (byte, error) {
	// The decoder cannot un-read a token, so look at the first non-space
	// byte through a buffered reader of our own.
	br := bufio.NewReader(j.lc)
	for {
		b, err := br.ReadByte()
		if err != nil {
			return 0, fmt.Errorf("empty file: %w", err)
		}
		if b == ' ' || b == '\t' || b == '\r' || b == '\n' || b == 0xEF || b == 0xBB || b == 0xBF {
			j.skipped++
			continue // whitespace, or a UTF-8 byte order mark
		}
		if err := br.UnreadByte(); err != nil {
			return 0, err
		}
		j.dec = json.NewDecoder(br)
		j.dec.UseNumber()
		if b == '[' {
			if _, err := j.dec.Token(); err != nil {
				return 0, err
			}
		}
		return b, nil
	}
}

// fromDjango fills r from a dumpdata record's fields.
func (r *importRow) fromDjango(fields json.RawMessage) error {
	if len(fields) == 0 {
		return errors.New(`no "fields": not a dumpdata record`)
	}
	var f struct {
		Username      *string `json:"username"`
		Password      *string `json:"password"`
		Email         string  `json:"email"`
		FirstName     string  `json:"first_name"`
		LastName      string  `json:"last_name"`
		IsActive      *bool   `json:"is_active"`
		IsStaff       bool    `json:"is_staff"`
		IsSuperuser   bool    `json:"is_superuser"`
		DateJoined    *string `json:"date_joined"`
		LastLogin     *string `json:"last_login"`
		EmailVerified bool    `json:"email_verified"`
	}
	if err := json.Unmarshal(fields, &f); err != nil {
		return fmt.Errorf("fields: %v", err)
	}
	if f.Username == nil || f.Password == nil {
		return errors.New(`fields "username" and "password" are required`)
	}
	r.username, r.hash, r.email = *f.Username, *f.Password, strings.TrimSpace(f.Email)
	r.displayName = strings.TrimSpace(strings.TrimSpace(f.FirstName) + " " + strings.TrimSpace(f.LastName))
	r.active = f.IsActive == nil || *f.IsActive
	r.staff, r.superuser, r.verified = f.IsStaff, f.IsSuperuser, f.EmailVerified
	var err1, err2 error
	r.joined, err1 = parseImportTime("date_joined", f.DateJoined)
	r.lastLogin, err2 = parseImportTime("last_login", f.LastLogin)
	return errors.Join(err1, err2)
}

// plainColumns are the fields of the json and csv formats.
var plainColumns = []string{"username", "email", "password_hash", "is_active", "is_admin", "date_joined", "last_login", "email_verified", "display_name"}

// fromPlain fills r from the plain format's fields; get returns a field's
// JSON value (strings, booleans and null are accepted for every field).
func (r *importRow) fromPlain(get func(string) (json.RawMessage, bool)) error {
	str := func(k string) (string, bool, error) {
		v, ok := get(k)
		if !ok || string(v) == "null" {
			return "", false, nil
		}
		var s string
		if err := json.Unmarshal(v, &s); err != nil {
			var b bool
			if json.Unmarshal(v, &b) == nil {
				return strconv.FormatBool(b), true, nil
			}
			return "", true, fmt.Errorf("%s: want a string", k)
		}
		return s, true, nil
	}
	flag := func(k string, def bool) (bool, error) {
		s, ok, err := str(k)
		if err != nil || !ok || strings.TrimSpace(s) == "" {
			return def, err
		}
		return parseImportBool(k, s)
	}
	var errs []error
	add := func(err error) {
		if err != nil {
			errs = append(errs, err)
		}
	}
	var ok bool
	var err error
	r.username, ok, err = str("username")
	add(err)
	if !ok {
		add(errors.New(`field "username" is required`))
	}
	r.hash, ok, err = str("password_hash")
	add(err)
	if !ok {
		add(errors.New(`field "password_hash" is required`))
	}
	r.email, _, err = str("email")
	add(err)
	r.email = strings.TrimSpace(r.email)
	r.displayName, _, err = str("display_name")
	add(err)
	r.active, err = flag("is_active", true)
	add(err)
	r.admin, err = flag("is_admin", false)
	add(err)
	r.verified, err = flag("email_verified", false)
	add(err)
	for _, t := range []struct {
		k   string
		dst **time.Time
	}{{"date_joined", &r.joined}, {"last_login", &r.lastLogin}} {
		s, ok, err := str(t.k)
		add(err)
		if ok && s != "" {
			*t.dst, err = parseImportTime(t.k, &s)
			add(err)
		}
	}
	return errors.Join(errs...)
}

// parseImportBool reads true/false, 1/0, yes/no, t/f (Postgres exports).
func parseImportBool(field, s string) (bool, error) {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "true", "t", "1", "yes", "y":
		return true, nil
	case "false", "f", "0", "no", "n":
		return false, nil
	}
	return false, fmt.Errorf("%s: %q is not a boolean", field, s)
}

// parseImportTime reads an RFC 3339 time, with or without fractional
// seconds; a time without a zone (Django with USE_TZ=False, a CSV export) is
// taken as UTC. nil or "" is no time.
func parseImportTime(field string, s *string) (*time.Time, error) {
	if s == nil || strings.TrimSpace(*s) == "" {
		return nil, nil
	}
	v := strings.TrimSpace(*s)
	for _, layout := range []string{time.RFC3339Nano, "2006-01-02T15:04:05.999999999", "2006-01-02 15:04:05.999999999Z07:00", "2006-01-02 15:04:05.999999999", "2006-01-02"} {
		if t, err := time.Parse(layout, v); err == nil {
			if t.Year() < 1900 || t.Year() > 9999 {
				break
			}
			t = t.UTC()
			return &t, nil
		}
	}
	return nil, fmt.Errorf("%s: %q is not an RFC 3339 time", field, v)
}

// csvRows reads the plain format as CSV with a header row.
type csvRows struct {
	r      *csv.Reader
	cols   map[string]int
	record int
}

func newCSVRows(r io.Reader) (*csvRows, error) {
	cr := csv.NewReader(bufio.NewReader(r))
	cr.FieldsPerRecord = -1 // a short or long row is that row's error, not the file's
	cr.ReuseRecord = true
	header, err := cr.Read()
	if err != nil {
		return nil, fmt.Errorf("csv header: %w", err)
	}
	cols := map[string]int{}
	for i, h := range header {
		h = strings.ToLower(strings.TrimSpace(string(bytes.TrimPrefix([]byte(h), []byte("\xEF\xBB\xBF")))))
		cols[h] = i
	}
	for _, need := range []string{"username", "password_hash"} {
		if _, ok := cols[need]; !ok {
			return nil, fmt.Errorf("csv header: no %q column (columns: %s)", need, strings.Join(plainColumns, ", "))
		}
	}
	return &csvRows{r: cr, cols: cols}, nil
}

func (c *csvRows) next() (*importRow, error) {
	rec, err := c.r.Read()
	if err == io.EOF {
		return nil, io.EOF
	}
	c.record++
	line, _ := c.r.FieldPos(0)
	var pe *csv.ParseError
	if errors.As(err, &pe) {
		// A quoting error ends the row; the reader resumes at the next line.
		return &importRow{record: c.record, line: pe.StartLine, err: pe.Err}, nil
	}
	if err != nil {
		return nil, err
	}
	row := &importRow{record: c.record, line: line}
	if len(rec) != len(c.cols) {
		row.err = fmt.Errorf("%d fields, the header has %d", len(rec), len(c.cols))
		return row, nil
	}
	row.err = row.fromPlain(func(k string) (json.RawMessage, bool) {
		i, ok := c.cols[k]
		if !ok {
			return nil, false
		}
		b, _ := json.Marshal(rec[i])
		return b, true
	})
	return row, nil
}
