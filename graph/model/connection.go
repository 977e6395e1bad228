package model

// UserConnection is one page of the users query. TotalCount is resolved
// only when selected, from Search.
type UserConnection struct {
	Edges    []*UserEdge
	PageInfo *PageInfo
	Search   string // the query's search, for totalCount
	Total    *int64 // the count, when the page was read with it
}
