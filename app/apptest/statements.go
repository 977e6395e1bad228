package apptest

import (
	"sync/atomic"
	"testing"

	"gorm.io/gorm"

	"github.com/ironclad-auth/ironclad/store"
)

// CountStatements counts every SQL statement st runs from now on, through
// gorm callbacks after each kind of statement. Register it once per store.
// A dry run (gorm building a subquery's SQL to embed it in another
// statement) sends nothing and is not counted.
func CountStatements(t testing.TB, st *store.Store) *atomic.Int64 {
	t.Helper()
	var n atomic.Int64
	count := func(db *gorm.DB) {
		if !db.DryRun {
			n.Add(1)
		}
	}
	cb := st.DB().Callback()
	name := "apptest:count_statements"
	for _, err := range []error{
		cb.Query().After("gorm:query").Register(name, count),
		cb.Row().After("gorm:row").Register(name, count),
		cb.Raw().After("gorm:raw").Register(name, count),
		cb.Create().After("gorm:create").Register(name, count),
		cb.Update().After("gorm:update").Register(name, count),
		cb.Delete().After("gorm:delete").Register(name, count),
	} {
		if err != nil {
			t.Fatalf("register statement counter: %v", err)
		}
	}
	return &n
}
