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
)

// presentError is the single place where errors become GraphQL errors:
// *models.Error values become extensions, errors gqlgen already coded
// (validation, parsing) pass through, and anything else is logged once with
// its detail and answered as INTERNAL_SERVER_ERROR without it.
func presentError(log *slog.Logger) graphql.ErrorPresenterFunc {
	return func(ctx context.Context, err error) *gqlerror.Error {
		gqlErr := graphql.DefaultErrorPresenter(ctx, err)
		var me *models.Error
		if errors.As(err, &me) {
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
