package graph

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"strings"

	"github.com/99designs/gqlgen/graphql"
	"github.com/vektah/gqlparser/v2/gqlerror"

	"github.com/ironclad-auth/ironclad/models"
	"github.com/ironclad-auth/ironclad/store"
)

// presentError is the single place where errors become GraphQL errors:
// *models.Error values become extensions, errors gqlgen already coded
// (validation, parsing) pass through, and anything else is logged once with
// its detail and answered as INTERNAL_SERVER_ERROR without it.
func presentError(log *slog.Logger) graphql.ErrorPresenterFunc {
	return func(ctx context.Context, err error) *gqlerror.Error {
		gqlErr := graphql.DefaultErrorPresenter(ctx, err)
		var me *models.Error
		if !errors.As(err, &me) && errors.Is(err, context.DeadlineExceeded) {
			// REQUEST_TIMEOUT ran out somewhere the store did not see it
			// (waiting for a hashing slot, say): the same answer as a slow
			// database.
			me = &models.Error{Code: models.CodeServiceUnavailable, Message: store.ErrUnavailable.Message, RetryAfter: store.ErrUnavailable.RetryAfter, Err: err}
		}
		if me != nil {
			if me.Code == models.CodeServiceUnavailable {
				// An outage, not a bug: logged once, at WARN, with its cause.
				log.WarnContext(ctx, "service unavailable", "err", err, "path", gqlErr.Path.String())
			}
			gqlErr.Message = me.Message
			ext := map[string]any{"code": string(me.Code)}
			if me.Reason != "" {
				ext["reason"] = me.Reason
			}
			if me.Field != "" {
				ext["field"] = me.Field
			}
			if me.RetryAfter > 0 {
				ext["retryAfter"] = int(math.Ceil(me.RetryAfter.Seconds()))
			}
			gqlErr.Extensions = ext
			return gqlErr
		}
		var ge *gqlerror.Error
		if errors.As(err, &ge) && ge.Err == nil {
			// gqlgen's own protocol errors (parse, validation, complexity,
			// undecodable body) wrap no cause: safe to show as they are.
			// gqlgen echoes an undecodable body, which may hold a password.
			if msg, _, found := strings.Cut(gqlErr.Message, " body:"); found && strings.HasPrefix(msg, "json request body could not be decoded") {
				gqlErr.Message = msg
			}
			// A body read error names the connection's socket addresses
			// ("read tcp 10.0.0.5:8080->…: i/o timeout"); app reads the body
			// first and answers these itself, this is for any other caller.
			if strings.HasPrefix(gqlErr.Message, bodyReadFailed) {
				gqlErr.Message = bodyReadFailed
			}
			if gqlErr.Extensions == nil || gqlErr.Extensions["code"] == nil {
				if gqlErr.Extensions == nil {
					gqlErr.Extensions = map[string]any{}
				}
				gqlErr.Extensions["code"] = "BAD_REQUEST"
			}
			return gqlErr
		}
		log.ErrorContext(ctx, "internal error", "err", err, "path", gqlErr.Path.String())
		return internalError(gqlErr)
	}
}

// bodyReadFailed begins the message of gqlgen's POST transport when the
// request body could not be read.
const bodyReadFailed = "could not read request body"

func internalError(base *gqlerror.Error) *gqlerror.Error {
	return &gqlerror.Error{
		Message:    "internal error",
		Path:       base.Path,
		Locations:  base.Locations,
		Extensions: map[string]any{"code": string(models.CodeInternal)},
	}
}

// recoverPanic turns a panic in a resolver into an internal error, logged
// with its value.
func recoverPanic(log *slog.Logger) graphql.RecoverFunc {
	return func(ctx context.Context, p any) error {
		log.ErrorContext(ctx, "panic in resolver", "panic", fmt.Sprint(p))
		return &models.Error{Code: models.CodeInternal, Message: "internal error"}
	}
}

// eachError reports every error joined in err (validation returns all
// violations at once, one per input field): all but the last are added to
// the response, and the last is returned for the field, so the response
// lists them in input order.
func eachError(ctx context.Context, err error) error {
	joined, ok := err.(interface{ Unwrap() []error })
	if !ok {
		return err
	}
	errs := joined.Unwrap()
	if len(errs) == 0 {
		return err
	}
	for _, e := range errs[:len(errs)-1] {
		graphql.AddError(ctx, e)
	}
	return errs[len(errs)-1]
}
