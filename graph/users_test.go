package graph_test

import (
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/ironclad-auth/ironclad/app/apptest"
	"github.com/ironclad-auth/ironclad/graph/model"
	"github.com/ironclad-auth/ironclad/models"
)

// The users query of admins, through the real HTTP handler: its
// pagination, its arguments and its cost in SQL statements.

const registerMutation = `mutation($in: RegisterInput!) { register(input: $in) { ` + apptest.PayloadFields + ` } }`

func registerVars(username, email, password string) map[string]any {
	return map[string]any{"in": map[string]any{"username": username, "email": email, "password": password}}
}

// userPage is a users result: the generated connection, with the
// totalCount it resolves on demand.
type userPage struct {
	model.UserConnection
	TotalCount int `json:"totalCount"`
}

// users runs usersQuery as a and fails the test unless it succeeds.
func users(t *testing.T, e *apptest.Env, a apptest.Actor, vars map[string]any) userPage {
	t.Helper()
	return apptest.Decode[userPage](t, e.Do(a.Header, usersQuery, vars), "users")
}

// TestUsersPagination pages through the users while others register
// concurrently: every user that existed at the start is seen exactly once,
// in a stable order, and no user twice.
func TestUsersPagination(t *testing.T) {
	apptest.ForEach(t, func(t *testing.T, e *apptest.Env) {
		adminUser := e.CreateUser("root", apptest.Password, models.RoleAdmin)
		existing := map[string]bool{adminUser.ID: true}
		for i := range 11 {
			existing[e.CreateUser(fmt.Sprintf("user%02d", i), apptest.Password, models.RoleUser).ID] = true
		}
		// Users registered from now on are created a year later: they sort
		// after every existing user (and, sharing one instant, among
		// themselves by id, so some land behind the cursor and some ahead).
		e.Clock.Advance(365 * 24 * time.Hour)
		admin := apptest.Actor{Name: "root", Header: apptest.Bearer(e.Login("root", apptest.Password).AccessToken), User: adminUser}

		seen := map[string]int{}
		var order []string
		var after any
		pages := 0
		for {
			// Users keep arriving while we page.
			var wg sync.WaitGroup
			for i := range 2 {
				wg.Add(1)
				go func() {
					defer wg.Done()
					r := e.Do("", registerMutation, registerVars(fmt.Sprintf("late%d-%d", pages, i), fmt.Sprintf("late%d-%d@example.com", pages, i), apptest.Password))
					apptest.MustOK(t, r)
				}()
			}
			p := users(t, e, admin, map[string]any{"first": 3, "after": after})
			wg.Wait()
			pages++
			for _, edge := range p.Edges {
				seen[edge.Node.ID]++
				order = append(order, edge.Node.ID)
			}
			if len(p.Edges) > 0 && (p.PageInfo.EndCursor == nil || *p.PageInfo.EndCursor != p.Edges[len(p.Edges)-1].Cursor) {
				t.Fatalf("endCursor = %v, want the last edge's cursor", p.PageInfo.EndCursor)
			}
			if !p.PageInfo.HasNextPage || pages > 30 {
				break
			}
			after = *p.PageInfo.EndCursor
		}
		for id := range existing {
			if seen[id] != 1 {
				t.Errorf("user %s seen %d times, want once", id, seen[id])
			}
		}
		late := 0
		for id, n := range seen {
			if n != 1 {
				t.Errorf("user %s seen %d times", id, n)
			}
			if !existing[id] {
				late++
			}
		}
		if late == 0 || pages < 3 {
			t.Fatalf("the walk took %d pages and saw %d users registered during it; want several of each", pages, late)
		}

		// The order is stable: a second walk over the same users, with a
		// bigger page, lists the users the first walk saw in the same order.
		all := users(t, e, admin, map[string]any{"first": 100})
		var again []string
		for _, edge := range all.Edges {
			if seen[edge.Node.ID] == 1 {
				again = append(again, edge.Node.ID)
			}
		}
		if fmt.Sprint(again) != fmt.Sprint(order) {
			t.Fatalf("order changed between walks:\n%v\n%v", order, again)
		}
		if all.TotalCount != len(all.Edges) || all.PageInfo.HasNextPage {
			t.Fatalf("totalCount = %d, edges %d, hasNextPage %v", all.TotalCount, len(all.Edges), all.PageInfo.HasNextPage)
		}
	})
}

func TestUsersArguments(t *testing.T) {
	apptest.ForEach(t, func(t *testing.T, e *apptest.Env) {
		admin := e.Session("root", models.RoleAdmin)
		e.CreateUser("Ann_Lee", apptest.Password, models.RoleUser)    // email ann_lee@example.com
		e.CreateUser("annXlee", apptest.Password, models.RoleUser)    // "_" must not match X
		e.CreateUser("bob", apptest.Password, models.RoleUser)        // no "ann"
		e.CreateUser("zed", apptest.Password, models.RoleUser)        // email changed below
		e.CreateUser("100percent", apptest.Password, models.RoleUser) // "%" must not match everything
		zed, _ := e.App.Store.UserByUsername(t.Context(), "zed")
		apptest.MustOK(t, e.Do(admin.Header, updateProfileMut, map[string]any{"id": zed.ID, "in": map[string]any{"email": "Joanna@Example.com"}}))

		names := func(p userPage) string {
			var out []string
			for _, edge := range p.Edges {
				out = append(out, edge.Node.Username)
			}
			return fmt.Sprint(out)
		}
		searches := []struct {
			search string
			want   string
			total  int
		}{
			{"ANN", "[Ann_Lee annXlee zed]", 3}, // username in any case; zed by email joanna@
			{"ann_", "[Ann_Lee]", 1},            // "_" is literal
			{"%", "[]", 0},                      // "%" is literal
			{"EXAMPLE.COM", "[root Ann_Lee annXlee bob zed 100percent]", 6},
			{"  bob ", "[bob]", 1},
			{"", "[root Ann_Lee annXlee bob zed 100percent]", 6},
		}
		for _, s := range searches {
			t.Run("search "+s.search, func(t *testing.T) {
				p := users(t, e, admin, map[string]any{"search": s.search})
				if names(p) != s.want || p.TotalCount != s.total {
					t.Fatalf("users(search: %q) = %s total %d, want %s total %d", s.search, names(p), p.TotalCount, s.want, s.total)
				}
			})
		}
		// totalCount counts every match, not the page.
		if p := users(t, e, admin, map[string]any{"first": 2, "search": "ann"}); p.TotalCount != 3 || len(p.Edges) != 2 || !p.PageInfo.HasNextPage {
			t.Fatalf("users(first: 2, search: ann) = %+v", p)
		}

		bad := []struct {
			name  string
			vars  map[string]any
			field string
		}{
			{"first 0", map[string]any{"first": 0}, "first"},
			{"first 101", map[string]any{"first": 101}, "first"},
			{"first negative", map[string]any{"first": -1}, "first"},
			{"garbage cursor", map[string]any{"after": "not-a-cursor"}, "after"},
			{"forged cursor", map[string]any{"after": "dTF8eXw"}, "after"},
			{"search too long", map[string]any{"search": string(make([]byte, 321))}, "search"},
		}
		for _, tt := range bad {
			t.Run(tt.name, func(t *testing.T) {
				apptest.WantField(t, e.Do(admin.Header, usersQuery, tt.vars), tt.field)
			})
		}
		p := users(t, e, admin, map[string]any{"first": 100})
		if len(p.Edges) != 6 {
			t.Fatalf("users(first: 100) = %d edges", len(p.Edges))
		}
		for _, edge := range p.Edges {
			if edge.Node.Email == nil { // an admin sees every email
				t.Fatalf("users: %s's email is hidden from an admin", edge.Node.Username)
			}
		}
	})
}

// TestUsersQueryCount proves the users query runs a fixed number of SQL
// statements whatever the page size: no statement per user.
func TestUsersQueryCount(t *testing.T) {
	apptest.ForEach(t, func(t *testing.T, e *apptest.Env) {
		admin := e.Session("root", models.RoleAdmin)
		for i := range 60 {
			e.CreateUser(fmt.Sprintf("user%02d", i), apptest.Password, models.RoleUser)
		}
		n := apptest.CountStatements(t, e.App.Store)
		statements := func(first int) int64 {
			before := n.Load()
			p := users(t, e, admin, map[string]any{"first": first})
			if len(p.Edges) != first || p.TotalCount != 61 {
				t.Fatalf("users(first: %d) = %d edges, total %d", first, len(p.Edges), p.TotalCount)
			}
			return n.Load() - before
		}
		statements(1) // warm the identity cache, so both counts see it alike
		one, fifty := statements(1), statements(50)
		// The page (1) and totalCount (1); the viewer's identity comes from
		// the replica's cache, or costs one more statement without it.
		if one > 3 || fifty != one {
			t.Fatalf("users ran %d statements for 1 user and %d for 50, want the same, at most 3", one, fifty)
		}
		// The first page of a search and its totalCount are one statement
		// (store.SearchUsersCounted); the next page and its count, two.
		before := n.Load()
		p := users(t, e, admin, map[string]any{"first": 5, "search": "user"})
		if len(p.Edges) != 5 || p.TotalCount != 60 || !p.PageInfo.HasNextPage {
			t.Fatalf("users(first: 5, search: user) = %d edges, total %d, next %v", len(p.Edges), p.TotalCount, p.PageInfo.HasNextPage)
		}
		if got := n.Load() - before; got != one-1 {
			t.Errorf("users(search:) first page with totalCount ran %d statements, want %d (one for page and count)", got, one-1)
		}
		before = n.Load()
		next := users(t, e, admin, map[string]any{"first": 5, "search": "user", "after": *p.PageInfo.EndCursor})
		if len(next.Edges) != 5 || next.TotalCount != 60 || next.Edges[0].Node.Username != "user05" {
			t.Fatalf("users(search: user, after:) = %d edges, total %d, first %s", len(next.Edges), next.TotalCount, next.Edges[0].Node.Username)
		}
		if got := n.Load() - before; got != one {
			t.Errorf("users(search:, after:) ran %d statements, want %d", got, one)
		}
	})
}
