package graph_test

import (
	"encoding/base64"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/ironclad-auth/ironclad/app/apptest"
	"github.com/ironclad-auth/ironclad/graph"
	"github.com/ironclad-auth/ironclad/graph/model"
	"github.com/ironclad-auth/ironclad/models"
)

// The audit queries through the real HTTP handler: who sees what, the
// pages, the filters and the arguments.

const (
	auditFields        = `edges { cursor node { id at type userId actorId sessionId ip userAgent } } pageInfo { hasNextPage endCursor }`
	myAuditEventsQuery = `query($first: Int, $after: String) { myAuditEvents(first: $first, after: $after) { ` + auditFields + ` } }`
	auditEventsQuery   = `query($userId: ID, $type: AuditEventType, $since: Time, $first: Int, $after: String) {
		auditEvents(userId: $userId, type: $type, since: $since, first: $first, after: $after) { ` + auditFields + ` } }`
)

// auditPages follows the pages of query (field) as a, first at a time,
// and returns the events in the order served.
func auditPages(t *testing.T, e *apptest.Env, a apptest.Actor, query, field string, vars map[string]any, first int) []*model.AuditEvent {
	t.Helper()
	var out []*model.AuditEvent
	v := map[string]any{"first": first}
	for k, x := range vars {
		v[k] = x
	}
	for range 100 {
		conn := apptest.Decode[model.AuditEventConnection](t, e.Do(a.Header, query, v), field)
		for _, edge := range conn.Edges {
			out = append(out, edge.Node)
		}
		if !conn.PageInfo.HasNextPage {
			return out
		}
		v["after"] = *conn.PageInfo.EndCursor
	}
	t.Fatal("more than 100 pages")
	return nil
}

func types(evs []*model.AuditEvent) []models.AuditType {
	out := make([]models.AuditType, len(evs))
	for i, ev := range evs {
		out[i] = ev.Type
	}
	return out
}

// TestMyAuditEvents: a user sees their own security activity, newest first,
// in pages, and nobody else's.
func TestMyAuditEvents(t *testing.T) {
	apptest.ForEach(t, func(t *testing.T, e *apptest.Env) {
		alice := e.Session("alice", models.RoleUser) // LOGIN_SUCCEEDED
		bob := e.Session("bob", models.RoleUser)
		e.Clock.Advance(time.Second)
		apptest.WantError(t, e.Do("", apptest.LoginMutation, map[string]any{"u": "alice", "p": "wrong"}), "UNAUTHENTICATED", "invalid_credentials")
		e.Clock.Advance(time.Second)
		e.Login("alice", apptest.Password)
		e.Login("bob", apptest.Password)
		e.Clock.Advance(time.Second)
		apptest.MustOK(t, e.Do(alice.Header, `mutation { createPersonalAccessToken(name: "x", scopes: [PROFILE_READ]) { token } }`, nil))
		e.AuditEvents(t) // the failed login is written

		want := []models.AuditType{models.AuditPersonalTokenCreate, models.AuditLoginSucceeded, models.AuditLoginFailed, models.AuditLoginSucceeded}
		for _, first := range []int{1, 3, 20} {
			got := auditPages(t, e, alice, myAuditEventsQuery, "myAuditEvents", nil, first)
			if !slices.Equal(types(got), want) {
				t.Errorf("myAuditEvents in pages of %d = %v, want %v", first, types(got), want)
			}
			for _, ev := range got {
				if apptest.Str(ev.UserID) != alice.User.ID {
					t.Errorf("alice sees an event of user %q", apptest.Str(ev.UserID))
				}
			}
		}
		got := auditPages(t, e, alice, myAuditEventsQuery, "myAuditEvents", nil, 20)
		if ip, ua := apptest.Str(got[2].IP), apptest.Str(got[2].UserAgent); ip != "192.0.2.1" || ua != "ironclad-test" {
			t.Errorf("failed login seen from %q %q, want the client's address and agent", ip, ua)
		}
		if n := len(auditPages(t, e, bob, myAuditEventsQuery, "myAuditEvents", nil, 20)); n != 2 {
			t.Errorf("bob sees %d events, want his 2 logins", n)
		}
	})
}

// TestAuditEventsFilters: admins query the whole log, newest first, by
// user, type and time, in pages.
func TestAuditEventsFilters(t *testing.T) {
	apptest.ForEach(t, func(t *testing.T, e *apptest.Env) {
		admin := e.Session("root", models.RoleAdmin)
		alice := e.Session("alice", models.RoleUser)
		start := e.Clock.Now()
		e.Clock.Advance(time.Minute)
		since := e.Clock.Now()
		for range 3 {
			e.Do("", apptest.LoginMutation, map[string]any{"u": "alice", "p": "wrong"})
			e.Clock.Advance(time.Second)
		}
		apptest.MustOK(t, e.Do(admin.Header, `mutation($id: ID!) { setRole(id: $id, role: ADMIN) { id } }`, map[string]any{"id": alice.User.ID}))
		e.AuditEvents(t)

		cases := []struct {
			name string
			vars map[string]any
			want []models.AuditType
		}{
			{"everything", nil, []models.AuditType{models.AuditRoleChanged, models.AuditLoginFailed, models.AuditLoginFailed, models.AuditLoginFailed, models.AuditLoginSucceeded, models.AuditLoginSucceeded}},
			{"user", map[string]any{"userId": admin.User.ID}, []models.AuditType{models.AuditLoginSucceeded}},
			{"type", map[string]any{"type": "LOGIN_FAILED"}, []models.AuditType{models.AuditLoginFailed, models.AuditLoginFailed, models.AuditLoginFailed}},
			{"since", map[string]any{"since": since.Add(2 * time.Second).Format(time.RFC3339Nano)}, []models.AuditType{models.AuditRoleChanged, models.AuditLoginFailed}},
			{"user and type", map[string]any{"userId": alice.User.ID, "type": "ROLE_CHANGED"}, []models.AuditType{models.AuditRoleChanged}},
			{"type before any", map[string]any{"type": "LOGIN_SUCCEEDED", "since": since.Format(time.RFC3339Nano)}, []models.AuditType{}},
			{"unknown user", map[string]any{"userId": "no-such-user"}, []models.AuditType{}},
			{"since the start", map[string]any{"since": start.Format(time.RFC3339Nano), "type": "LOGIN_SUCCEEDED"}, []models.AuditType{models.AuditLoginSucceeded, models.AuditLoginSucceeded}},
		}
		for _, c := range cases {
			for _, first := range []int{1, 2, 100} {
				got := auditPages(t, e, admin, auditEventsQuery, "auditEvents", c.vars, first)
				if !slices.Equal(types(got), c.want) {
					t.Errorf("auditEvents(%s) in pages of %d = %v, want %v", c.name, first, types(got), c.want)
				}
			}
		}
		role := auditPages(t, e, admin, auditEventsQuery, "auditEvents", map[string]any{"type": "ROLE_CHANGED"}, 10)[0]
		if apptest.Str(role.ActorID) != admin.User.ID || apptest.Str(role.UserID) != alice.User.ID {
			t.Errorf("ROLE_CHANGED actor %q user %q, want %s %s", apptest.Str(role.ActorID), apptest.Str(role.UserID), admin.User.ID, alice.User.ID)
		}
	})
}

// TestAuditAccess: myAuditEvents is for a logged-in session; auditEvents
// for admins' sessions only.
func TestAuditAccess(t *testing.T) {
	apptest.ForEach(t, func(t *testing.T, e *apptest.Env) {
		admin := e.Session("root", models.RoleAdmin)
		alice := e.Session("alice", models.RoleUser)
		adminToken := e.PersonalToken(admin, models.ScopeUsersRead, models.ScopeProfileRead)
		aliceToken := e.PersonalToken(alice, models.ScopeProfileRead)
		cases := []struct {
			name, header, query, code, reason string
		}{
			{"no token, mine", "", myAuditEventsQuery, "UNAUTHENTICATED", "missing_token"},
			{"no token, all", "", auditEventsQuery, "UNAUTHENTICATED", "missing_token"},
			{"user, all", alice.Header, auditEventsQuery, "FORBIDDEN", ""},
			{"personal token, mine", aliceToken.Header, myAuditEventsQuery, "FORBIDDEN", "session_required"},
			{"admin's personal token, all", adminToken.Header, auditEventsQuery, "FORBIDDEN", "session_required"},
		}
		for _, c := range cases {
			t.Run(c.name, func(t *testing.T) {
				apptest.WantError(t, e.Do(c.header, c.query, nil), c.code, c.reason)
			})
		}
		apptest.MustOK(t, e.Do(admin.Header, auditEventsQuery, nil))
		apptest.MustOK(t, e.Do(admin.Header, myAuditEventsQuery, nil))
	})
}

// TestAuditArguments: first is 1 to 100; after takes only a cursor of the
// audit log, exactly as served; bad input is BAD_USER_INPUT on its field.
func TestAuditArguments(t *testing.T) {
	apptest.ForEach(t, func(t *testing.T, e *apptest.Env) {
		admin := e.Session("root", models.RoleAdmin)
		e.Session("alice", models.RoleUser)
		conn := apptest.Decode[model.AuditEventConnection](t, e.Do(admin.Header, auditEventsQuery, map[string]any{"first": 1}), "auditEvents")
		good := *conn.PageInfo.EndCursor
		usersCursor := apptest.Decode[model.UserConnection](t, e.Do(admin.Header, `{ users(first: 1) { edges { cursor } pageInfo { endCursor } } }`, nil), "users").PageInfo.EndCursor
		raw, _ := base64.RawURLEncoding.DecodeString(good)
		cases := []struct {
			name string
			vars map[string]any
			want string
		}{
			{"first 0", map[string]any{"first": 0}, "first"},
			{"first 101", map[string]any{"first": 101}, "first"},
			{"not base64", map[string]any{"after": "!!!"}, "after"},
			{"a users cursor", map[string]any{"after": *usersCursor}, "after"},
			{"padded", map[string]any{"after": good + "="}, "after"},
			{"another version", map[string]any{"after": base64.RawURLEncoding.EncodeToString(append([]byte("u1"), raw[2:]...))}, "after"},
			{"another offset", map[string]any{"after": base64.RawURLEncoding.EncodeToString([]byte(fmt.Sprintf("a1|%s|x", time.Now().Format("2006-01-02T15:04:05+01:00"))))}, "after"},
			{"too long", map[string]any{"after": strings.Repeat("YTF8", 60)}, "after"},
		}
		for _, c := range cases {
			for _, q := range []struct{ header, query string }{{admin.Header, auditEventsQuery}, {admin.Header, myAuditEventsQuery}} {
				apptest.WantField(t, e.Do(q.header, q.query, c.vars), c.want)
			}
		}
		apptest.MustOK(t, e.Do(admin.Header, auditEventsQuery, map[string]any{"after": good}))
		// An unknown type is refused by the schema (HTTP 422 for graphql-response+json clients).
		if code, _ := e.Do(admin.Header, auditEventsQuery, map[string]any{"type": "NOT_A_TYPE"}).Code(); code != "GRAPHQL_VALIDATION_FAILED" {
			t.Errorf("unknown type: code %q, want GRAPHQL_VALIDATION_FAILED", code)
		}
	})
}

// TestAuditEventTypeEnum: the schema's AuditEventType lists exactly the
// store's types, in order.
func TestAuditEventTypeEnum(t *testing.T) {
	es := graph.NewExecutableSchema(graph.Config{Resolvers: &graph.Resolver{}})
	def := es.Schema().Types["AuditEventType"]
	if def == nil {
		t.Fatal("no AuditEventType in the schema")
	}
	var got []models.AuditType
	for _, v := range def.EnumValues {
		got = append(got, models.AuditType(v.Name))
	}
	if !slices.Equal(got, models.AuditTypes) {
		t.Errorf("AuditEventType = %v, want models.AuditTypes %v", got, models.AuditTypes)
	}
}
