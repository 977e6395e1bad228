package graph

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"mime"
	"net/http"
	"strings"
	"sync"

	"github.com/99designs/gqlgen/graphql"
	"github.com/99designs/gqlgen/graphql/errcode"
	"github.com/vektah/gqlparser/v2/gqlerror"
)

// postTransport is gqlgen's transport.POST with the same behaviour — which
// requests it takes, the response media type it negotiates from Accept,
// the statuses of a body that does not decode (400) and of an operation
// that cannot start (422, or 400 under application/graphql-response+json),
// and the bytes of every response — doing less per request:
//
//   - a response with data and neither errors nor extensions (every
//     successful query) is written as {"data":...} around the executor's
//     bytes, instead of json.Marshal re-validating and re-compacting them;
//     data holding a character json.Marshal would escape for HTML (<, >, &,
//     U+2028, U+2029) still goes through json.Marshal, so the bytes match;
//   - the header map gqlgen merges per request is a single Header.Set;
//   - a body the HTTP layer already read (app's limitBody) is taken as is,
//     not copied again.
//
// transport_test.go runs the same requests through both and compares them.
type postTransport struct{}

var _ graphql.Transport = postTransport{}

func (postTransport) Supports(r *http.Request) bool {
	if r.Header.Get("Upgrade") != "" || r.Method != http.MethodPost {
		return false
	}
	ct := r.Header.Get("Content-Type")
	if ct == "application/json" {
		return true
	}
	mediaType, _, err := mime.ParseMediaType(ct)
	return err == nil && mediaType == "application/json"
}

// Bodied is a request body that holds its bytes already read (app's
// limitBody), so a transport need not copy them.
type Bodied interface {
	io.ReadCloser
	Bytes() []byte
}

var paramsPool = sync.Pool{New: func() any { return &graphql.RawParams{} }}

func (postTransport) Do(w http.ResponseWriter, r *http.Request, exec graphql.GraphExecutor) {
	ctx := r.Context()
	contentType := responseContentType(r.Header.Get("Accept"))
	w.Header().Add("Content-Type", contentType)
	params := paramsPool.Get().(*graphql.RawParams)
	defer func() {
		*params = graphql.RawParams{}
		paramsPool.Put(params)
	}()
	start := graphql.Now()

	var body []byte
	if b, ok := r.Body.(Bodied); ok {
		body = b.Bytes()
	} else {
		var err error
		if body, err = io.ReadAll(r.Body); err != nil {
			gqlErr := gqlerror.Errorf("could not read request body: %+v", err)
			writeResponse(w, exec.DispatchError(ctx, gqlerror.List{gqlErr}))
			return
		}
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	if err := dec.Decode(params); err != nil {
		w.WriteHeader(http.StatusBadRequest)
		gqlErr := gqlerror.Errorf("json request body could not be decoded: %+v body:%s", err, string(body))
		writeResponse(w, exec.DispatchError(ctx, gqlerror.List{gqlErr}))
		return
	}
	params.Headers = r.Header
	params.ReadTime = graphql.TraceTiming{Start: start, End: graphql.Now()}

	rc, opErr := exec.CreateOperationContext(ctx, params)
	if opErr != nil {
		status := http.StatusOK
		if errcode.GetErrorKind(opErr) == errcode.KindProtocol {
			status = http.StatusUnprocessableEntity
			if contentType == graphQLResponseJSON {
				status = http.StatusBadRequest
			}
		}
		w.WriteHeader(status)
		writeResponse(w, exec.DispatchError(graphql.WithOperationContext(ctx, rc), opErr))
		return
	}
	responses, ctx := exec.DispatchOperation(ctx, rc)
	writeResponse(w, responses(ctx))
}

// responseContentType is gqlgen's negotiation without explicit response
// headers and with application/json as the default: the first Accept part
// naming JSON or GraphQL's response type decides; none at all means
// application/json, an Accept naming neither the GraphQL response type.
func responseContentType(accept string) string {
	if accept == "" {
		return "application/json"
	}
	for part := range strings.SplitSeq(accept, ",") {
		mediaType, _, err := mime.ParseMediaType(strings.TrimSpace(part))
		if err != nil {
			continue
		}
		switch mediaType {
		case "*/*", "application/*", "application/json":
			return "application/json"
		case graphQLResponseJSON:
			return graphQLResponseJSON
		}
	}
	return graphQLResponseJSON
}

// writeResponse writes resp as json.Marshal would.
func writeResponse(w io.Writer, resp *graphql.Response) {
	if len(resp.Errors) == 0 && resp.Label == "" && resp.Path == nil && resp.HasNext == nil &&
		len(resp.Extensions) == 0 && len(resp.Data) > 0 && !needsHTMLEscape(resp.Data) {
		buf := bufPool.Get().(*[]byte)
		b := append((*buf)[:0], `{"data":`...)
		b = append(b, resp.Data...)
		b = append(b, '}')
		_, _ = w.Write(b)
		if cap(b) <= 64<<10 { // a rare large response is not kept
			*buf = b
			bufPool.Put(buf)
		}
		return
	}
	b, err := json.Marshal(resp)
	if err != nil {
		panic(fmt.Errorf("unable to marshal %s: %w", string(resp.Data), err))
	}
	_, _ = w.Write(b)
}

var bufPool = sync.Pool{New: func() any { b := make([]byte, 0, 1024); return &b }}

// needsHTMLEscape reports whether json.Marshal would change data beyond
// compacting it: it escapes <, > and & (HTML safety) and U+2028, U+2029.
// The executor's output is already compact.
//
// A byte loop: bytes.ContainsAny with the two non-ASCII runes in its set
// decodes every rune of data.
func needsHTMLEscape(data []byte) bool {
	for i, c := range data {
		switch c {
		case '<', '>', '&':
			return true
		case 0xE2: // U+2028 and U+2029 are E2 80 A8 and E2 80 A9 in UTF-8
			if i+2 < len(data) && data[i+1] == 0x80 && (data[i+2] == 0xA8 || data[i+2] == 0xA9) {
				return true
			}
		}
	}
	return false
}
