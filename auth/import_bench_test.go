package auth_test

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/ironclad-auth/ironclad/app/apptest"
	"github.com/ironclad-auth/ironclad/auth"
	"github.com/ironclad-auth/ironclad/store/storetest"
)

// BenchmarkImport10k imports 10,000 users of a Django dump (pbkdf2_sha256
// hashes, as Django stores them by default) into an empty database, on each
// database kind, and reports users/s. The import checks every hash's format
// but computes none: its speed is the database's.
//
//	go test -run '^$' -bench BenchmarkImport10k -benchtime 3x ./auth/
func BenchmarkImport10k(b *testing.B) {
	const n = 10_000
	var dump strings.Builder
	dump.WriteString("[\n")
	for i := range n {
		if i > 0 {
			dump.WriteString(",\n")
		}
		fmt.Fprintf(&dump, `{"model": "auth.user", "pk": %d, "fields": {"password": "pbkdf2_sha256$1000000$salt%06d$hkn6CX9gY0zB24DMF+Thc2mNd0fmu0XYRbH3cAzIQ9c=", "last_login": null, "is_superuser": false, "username": "user%06d", "first_name": "", "last_name": "", "email": "user%06d@example.com", "is_staff": false, "is_active": true, "date_joined": "2021-03-01T05:06:07Z", "groups": [], "user_permissions": []}}`, i+1, i, i, i)
	}
	dump.WriteString("\n]\n")
	body := dump.String()
	for _, kind := range storetest.Kinds() {
		b.Run(kind, func(b *testing.B) {
			for b.Loop() {
				b.StopTimer()
				e := apptest.Open(b, kind)
				b.StartTimer()
				rep, err := e.App.Auth.Accounts.Import(context.Background(), strings.NewReader(body), auth.ImportOptions{})
				if err != nil || rep.Imported != n {
					b.Fatalf("Import = %+v, %v", rep.Imported, err)
				}
			}
			b.ReportMetric(float64(n)*float64(b.N)/b.Elapsed().Seconds(), "users/s")
		})
	}
}
