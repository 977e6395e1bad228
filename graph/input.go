package graph

import (
	"context"
	"maps"
	"strings"
	"unicode/utf8"

	"github.com/99designs/gqlgen/graphql"
	"github.com/vektah/gqlparser/v2/ast"
	"github.com/vektah/gqlparser/v2/validator/core"
	"github.com/vektah/gqlparser/v2/validator/rules"

	"github.com/ironclad-auth/ironclad/models"
)

// Checks on what a client passes as arguments, made once for every field
// instead of in each resolver.

// validText reports whether s can be stored as text: valid UTF-8 without
// NUL. Postgres refuses anything else with an error, SQLite stores it.
func validText(s string) bool {
	return utf8.ValidString(s) && strings.IndexByte(s, 0) < 0
}

// textArguments refuses a field whose arguments hold a string that is not
// valid text (validText), wherever it sits: an argument, a field of an input
// object, an element of a list. It runs after gqlgen decoded the arguments
// and before the field's directives and resolver, so no such string reaches
// a query: the field answers BAD_USER_INPUT naming the argument or input
// field, the same on every database, instead of an internal error (and an
// ERROR log line) on Postgres that anyone could repeat at will.
//
// An ID argument is the exception: an id that is not well-formed names
// nothing, so the field answers as for an unknown id (null, false, or its
// own not-found error). The field then resolves, directives first, with the
// empty id, which no record has.
type textArguments struct {
	schema *ast.Schema
}

var _ interface {
	graphql.HandlerExtension
	graphql.FieldInterceptor
} = (*textArguments)(nil)

func (*textArguments) ExtensionName() string { return "TextArguments" }

func (t *textArguments) Validate(es graphql.ExecutableSchema) error {
	t.schema = es.Schema()
	return nil
}

func (t *textArguments) InterceptField(ctx context.Context, next graphql.Resolver) (any, error) {
	fc := graphql.GetFieldContext(ctx)
	// Most fields take no arguments: this length test is all they pay.
	// Defaults come from the schema and need no check.
	if fc == nil || len(fc.Field.Arguments) == 0 || fc.Field.Definition == nil {
		return next(ctx)
	}
	raw := fc.Field.ArgumentMap(graphql.GetOperationContext(ctx).Variables)
	var unknownIDs []string
	// In schema order, so the error names the same argument every time.
	for _, arg := range fc.Field.Definition.Arguments {
		v, ok := raw[arg.Name]
		if !ok {
			continue
		}
		field, bad := t.badText(arg.Type, v, arg.Name)
		if !bad {
			continue
		}
		if arg.Type.NamedType == "ID" && isString(fc.Args[arg.Name]) {
			unknownIDs = append(unknownIDs, arg.Name)
			continue
		}
		return nil, models.BadField(field, field+" must be valid UTF-8 text without NUL characters")
	}
	if len(unknownIDs) > 0 {
		args := maps.Clone(fc.Args)
		for _, name := range unknownIDs {
			if _, ok := args[name].(string); ok {
				args[name] = ""
			} else {
				args[name] = new(string)
			}
		}
		fc.Args = args
	}
	return next(ctx)
}

// isString reports whether a decoded argument is a string or a *string: an
// ID the resolver receives as text, which the empty id can stand in for.
func isString(v any) bool {
	switch v.(type) {
	case string, *string:
		return true
	}
	return false
}

// badText finds a string in the raw (undecoded) value v of type typ that is
// not valid text, and returns the name of the argument or input field
// holding it; name is the one holding v.
func (t *textArguments) badText(typ *ast.Type, v any, name string) (string, bool) {
	switch v := v.(type) {
	case string:
		return name, !validText(v)
	case []any:
		elem := typ
		if typ.Elem != nil {
			elem = typ.Elem
		}
		for _, x := range v {
			if field, bad := t.badText(elem, x, name); bad {
				return field, true
			}
		}
	case map[string]any:
		def := t.schema.Types[typ.Name()]
		if def == nil {
			return "", false
		}
		// Validation refused fields the input object lacks: every key is
		// one of def.Fields, walked in schema order.
		for _, f := range def.Fields {
			if x, ok := v[f.Name]; ok {
				if field, bad := t.badText(f.Type, x, f.Name); bad {
					return field, true
				}
			}
		}
	}
	return "", false
}

// objectLiteralsRule refuses an object literal where the argument, variable
// default or input field is not an input object. gqlparser's
// ValuesOfCorrectType checks an object literal's fields but not its type, so
// an empty one, {}, on a String, an Int or an enum passed validation, and
// gqlgen's decoding then failed without a code: an internal error.
var objectLiteralsRule = core.Rule{
	Name: "ObjectLiteralsOfInputObjects",
	RuleFunc: func(observers *core.Events, addError core.AddErrFunc) {
		observers.OnValue(func(_ *core.Walker, v *ast.Value) {
			if v.Kind != ast.ObjectValue || v.Definition == nil || v.ExpectedType == nil || v.Definition.Kind == ast.InputObject {
				return
			}
			addError(core.Message(`Expected value of type "%s", found %s.`, v.ExpectedType.String(), v.String()), core.At(v.Position))
		})
	},
}

// validationRules are gqlparser's rules and objectLiteralsRule.
func validationRules() *rules.Rules {
	r := rules.NewDefaultRules()
	r.AddRule(objectLiteralsRule.Name, objectLiteralsRule.RuleFunc)
	return r
}
