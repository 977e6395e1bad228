package auth

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sort"
	"strings"

	"github.com/ironclad-auth/ironclad/models"
	"github.com/ironclad-auth/ironclad/store"
)

// Importing accounts from Django (or a site storing bare bcrypt), for
// `ironclad import users`. Hashes are stored verbatim (imported_hash.go
// describes the formats) and become argon2id at each user's first login.

// Which Django flag makes an ADMIN.
const (
	AdminFromSuperuser = "superuser" // is_superuser (the default)
	AdminFromStaff     = "staff"     // is_staff
	AdminFromBoth      = "both"      // either
	AdminFromNone      = "none"      // nobody: every account is a USER
)

// DefaultImportBatch is how many users one transaction imports.
const DefaultImportBatch = 500

// importProgressEvery is how many rows pass between two progress lines.
const importProgressEvery = 1000

// ImportOptions configure an import.
type ImportOptions struct {
	Format         string // FormatAuto (default), FormatDjango, FormatJSON or FormatCSV
	Name           string // the file's name, which picks the format when Format is auto
	AdminFrom      string // for Django dumps: AdminFromSuperuser (default), Staff, Both or None
	EmailsVerified bool   // mark every imported address verified, whatever the file says
	BatchSize      int    // users per transaction; 0 means DefaultImportBatch
	// Progress, when set, receives a line per 1,000 rows read.
	Progress io.Writer
}

// ImportRowError is a row that was not imported, and why.
type ImportRowError struct {
	Line     int    // the row's first line in the file
	Record   int    // its position among the records (1-based)
	Username string // when the row had one
	Reason   string
}

// ImportReport is the outcome of an import.
type ImportReport struct {
	Read     int              // records read
	Imported int              // accounts created
	Skipped  []string         // usernames that already had an account (not changed)
	Unusable int              // imported without a usable password: they must reset it
	ByKind   map[HashKind]int // imported accounts by hash format
	Bad      []ImportRowError // rows refused, in file order
}

// Summary is the report as the command prints it: one line of totals and
// one per hash format.
func (r *ImportReport) Summary() string {
	var b strings.Builder
	fmt.Fprintf(&b, "imported %d, skipped %d (already exist), unusable passwords %d, bad rows %d, of %d records\n",
		r.Imported, len(r.Skipped), r.Unusable, len(r.Bad), r.Read)
	kinds := make([]string, 0, len(r.ByKind))
	for k := range r.ByKind {
		kinds = append(kinds, string(k))
	}
	sort.Strings(kinds)
	for _, k := range kinds {
		fmt.Fprintf(&b, "  %-16s %d\n", k, r.ByKind[HashKind(k)])
	}
	return b.String()
}

// Import reads accounts from r and creates those whose username is free:
// a second run of the same file skips every account the first created (and
// reports them). Each batch of users is one transaction; a row that cannot be
// imported (a bad username, an unknown hash format, a malformed time, a name
// twice in the file, a constraint of the database) is reported with its line
// and left out, and nothing of it is written. The report is returned with the
// error when the file becomes unreadable or the database fails: the batches
// committed before stay, and running the import again completes it.
func (a *Accounts) Import(ctx context.Context, r io.Reader, opts ImportOptions) (*ImportReport, error) {
	switch opts.AdminFrom {
	case "":
		opts.AdminFrom = AdminFromSuperuser
	case AdminFromSuperuser, AdminFromStaff, AdminFromBoth, AdminFromNone:
	default:
		return nil, fmt.Errorf("admin-from must be superuser, staff, both or none, not %q", opts.AdminFrom)
	}
	if opts.BatchSize <= 0 {
		opts.BatchSize = DefaultImportBatch
	}
	rows, err := newRowReader(r, opts.Format, opts.Name)
	if err != nil {
		return nil, err
	}
	im := &importer{a: a, opts: opts, seen: map[string]int{}, rep: &ImportReport{ByKind: map[HashKind]int{}}}
	for {
		row, err := rows.next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			// The rows read before are whole: keep them.
			if ferr := im.flush(ctx); ferr != nil {
				return im.rep, ferr
			}
			return im.rep, fmt.Errorf("read: %w", err)
		}
		im.rep.Read++
		if err := im.add(ctx, row); err != nil {
			return im.rep, err
		}
		if im.rep.Read%importProgressEvery == 0 {
			if err := im.flush(ctx); err != nil {
				return im.rep, err
			}
			im.progress()
		}
	}
	if err := im.flush(ctx); err != nil {
		return im.rep, err
	}
	return im.rep, nil
}

// importer is the state of one Import.
type importer struct {
	a     *Accounts
	opts  ImportOptions
	rep   *ImportReport
	seen  map[string]int // folded username → line, across the whole file
	batch []pending
}

type pending struct {
	row  *importRow
	user store.ImportUser
	kind HashKind
}

func (im *importer) progress() {
	if im.opts.Progress != nil {
		fmt.Fprintf(im.opts.Progress, "%d records read: %d imported, %d skipped, %d bad\n",
			im.rep.Read, im.rep.Imported, len(im.rep.Skipped), len(im.rep.Bad))
	}
}

func (im *importer) bad(row *importRow, reason string) {
	im.rep.Bad = append(im.rep.Bad, ImportRowError{Line: row.line, Record: row.record, Username: row.username, Reason: reason})
}

// add checks one row and queues it for the next batch.
func (im *importer) add(ctx context.Context, row *importRow) error {
	if row.err != nil {
		im.bad(row, row.err.Error())
		return nil
	}
	u, kind, err := im.user(row)
	if err != nil {
		im.bad(row, err.Error())
		return nil
	}
	key := store.UsernameKey(row.username)
	if line, dup := im.seen[key]; dup {
		im.bad(row, fmt.Sprintf("username %q is also on line %d", row.username, line))
		return nil
	}
	im.seen[key] = row.line
	im.batch = append(im.batch, pending{row: row, user: u, kind: kind})
	if len(im.batch) >= im.opts.BatchSize {
		return im.flush(ctx)
	}
	return nil
}

// user turns a row into the account to store.
func (im *importer) user(row *importRow) (store.ImportUser, HashKind, error) {
	var errs []error
	if e := ValidateUsername(row.username); e != nil {
		errs = append(errs, errors.New(e.Message))
	}
	var email *string
	if row.email != "" {
		v, e := ValidateEmail(row.email)
		if e != nil {
			errs = append(errs, fmt.Errorf("email %q: %s", row.email, e.Message))
		}
		email = &v
	}
	var display *string
	if row.displayName != "" {
		v, e := ValidateDisplayName(row.displayName)
		if e != nil {
			errs = append(errs, errors.New(e.Message))
		}
		if v != "" {
			display = &v
		}
	}
	hash := row.hash
	if hash == "" {
		hash = "!" // no password at all: the account must reset, like Django's unusable ones
	}
	kind, err := CheckHash(hash)
	if err != nil {
		errs = append(errs, fmt.Errorf("password: %v", err))
	}
	if err := errors.Join(errs...); err != nil {
		return store.ImportUser{}, "", err
	}
	role := models.RoleUser
	admin := row.admin
	if row.django {
		switch im.opts.AdminFrom {
		case AdminFromSuperuser:
			admin = row.superuser
		case AdminFromStaff:
			admin = row.staff
		case AdminFromBoth:
			admin = row.superuser || row.staff
		default:
			admin = false
		}
	}
	if admin {
		role = models.RoleAdmin
	}
	u := store.ImportUser{User: models.User{
		Username: row.username, Email: email, DisplayName: display, PasswordHash: hash,
		Role: role, Active: row.active, LastLoginAt: row.lastLogin,
	}}
	if row.joined != nil {
		u.User.CreatedAt = *row.joined
	}
	if email != nil && (row.verified || im.opts.EmailsVerified) {
		at := im.a.s.opts.Now().UTC()
		u.EmailVerifiedAt = &at
	}
	return u, kind, nil
}

// flush writes the queued rows in one transaction. When the database refuses
// the batch for one of its rows (a constraint), each row is retried alone,
// so that only the offending rows are left out.
func (im *importer) flush(ctx context.Context) error {
	if len(im.batch) == 0 {
		return nil
	}
	batch := im.batch
	im.batch = nil
	users := make([]store.ImportUser, len(batch))
	for i, p := range batch {
		users[i] = p.user
	}
	skipped, err := im.a.s.store.ImportUsers(ctx, users)
	if err == nil {
		im.record(batch, skipped)
		return nil
	}
	if !rowFault(err) {
		return fmt.Errorf("import batch at line %d: %w", batch[0].row.line, err)
	}
	for _, p := range batch {
		skipped, err := im.a.s.store.ImportUsers(ctx, []store.ImportUser{p.user})
		if err != nil {
			if !rowFault(err) {
				return fmt.Errorf("import line %d: %w", p.row.line, err)
			}
			im.bad(p.row, "refused by the database: "+conflictHint(err))
			continue
		}
		im.record([]pending{p}, skipped)
	}
	return nil
}

// record counts a committed batch.
func (im *importer) record(batch []pending, skipped []string) {
	skip := make(map[string]bool, len(skipped))
	for _, s := range skipped {
		skip[s] = true
	}
	for _, p := range batch {
		if skip[p.row.username] {
			im.rep.Skipped = append(im.rep.Skipped, p.row.username)
			continue
		}
		im.rep.Imported++
		im.rep.ByKind[p.kind]++
		if p.kind == KindUnusable {
			im.rep.Unusable++
		}
	}
}

// rowFault reports whether err is the database refusing a row (retrying the
// rows alone will find it) rather than the database failing.
func rowFault(err error) bool {
	if errors.Is(err, store.ErrUnavailable) || errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return false
	}
	return true
}

func conflictHint(err error) string {
	if errors.Is(err, store.ErrConflict) {
		return "a unique value (such as the email address) is already taken"
	}
	return "the row breaks a rule of the database"
}
