package graph

import (
	"github.com/ironclad-auth/ironclad/auth"
	"github.com/ironclad-auth/ironclad/graph/model"
)

// sessions converts auth.SessionInfo values to their GraphQL shape; an
// unknown user agent or IP is null, not "".
func sessions(list []auth.SessionInfo) []*model.Session {
	out := make([]*model.Session, len(list))
	for i, s := range list {
		out[i] = &model.Session{
			ID:         s.ID,
			CreatedAt:  s.CreatedAt,
			LastUsedAt: s.LastUsedAt,
			ExpiresAt:  s.ExpiresAt,
			UserAgent:  optional(s.UserAgent),
			IP:         optional(s.IP),
			Current:    s.Current,
		}
	}
	return out
}

// tokenInfo converts an auth.TokenInfo; unknown parts are null.
func tokenInfo(t auth.TokenInfo) *model.TokenInfo {
	info := &model.TokenInfo{
		Valid:     t.Valid,
		Reason:    optional(t.Reason),
		TokenType: optional(t.TokenType),
		Subject:   optional(t.Subject),
	}
	if !t.ExpiresAt.IsZero() {
		exp := t.ExpiresAt.UTC()
		info.ExpiresAt = &exp
	}
	return info
}

// optional returns nil for "" and &s otherwise.
func optional(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}
