package client

import (
	"fmt"
	"net/http"
	"net/url"
	"reflect"
	"strconv"
	"strings"
)

// headerParams maps the generated *Params fields that travel as HTTP headers (their json tag).
var headerParams = map[string]string{"x-tenant-namespace": "X-Tenant-Namespace", "if-match": "If-Match",
	"last-event-id": "Last-Event-ID"}

// encodeParams turns a generated *Params struct into the query (fields with a `form` tag) and
// headers, skipping zero values, so a new endpoint's parameters need no hand-written encoding.
func encodeParams(params any, header http.Header) (url.Values, error) {
	query := url.Values{}
	value := reflect.Indirect(reflect.ValueOf(params))
	if !value.IsValid() {
		return query, nil
	}
	if value.Kind() != reflect.Struct {
		return nil, fmt.Errorf("hybridcloud: parameters must be a struct, got %T", params)
	}
	for i := 0; i < value.NumField(); i++ {
		field, fieldValue := value.Type().Field(i), value.Field(i)
		if fieldValue.IsZero() {
			continue
		}
		if fieldValue.Kind() == reflect.Slice { // a repeated query parameter (?events=a&events=b)
			name, ok := tagName(field.Tag.Get("form"))
			for j := 0; ok && j < fieldValue.Len(); j++ {
				text, err := scalar(fieldValue.Index(j))
				if err != nil {
					return nil, fmt.Errorf("hybridcloud: parameter %s: %w", field.Name, err)
				}
				query.Add(name, text)
			}
			continue
		}
		text, err := scalar(fieldValue)
		if err != nil {
			return nil, fmt.Errorf("hybridcloud: parameter %s: %w", field.Name, err)
		}
		if name, ok := tagName(field.Tag.Get("form")); ok {
			query.Set(name, text)
		} else if name, ok := tagName(field.Tag.Get("json")); ok {
			if headerName, isHeader := headerParams[name]; isHeader {
				header.Set(headerName, text)
			}
		}
	}
	return query, nil
}

func tagName(tag string) (string, bool) {
	name, _, _ := strings.Cut(tag, ",")
	return name, name != "" && name != "-"
}

func scalar(v reflect.Value) (string, error) {
	switch v.Kind() {
	case reflect.String:
		return v.String(), nil
	case reflect.Int, reflect.Int32, reflect.Int64:
		return strconv.FormatInt(v.Int(), 10), nil
	case reflect.Bool:
		return strconv.FormatBool(v.Bool()), nil
	case reflect.Pointer:
		return scalar(v.Elem())
	}
	return "", fmt.Errorf("unsupported kind %s", v.Kind())
}

// Bool returns a pointer to v, for the optional booleans of request bodies: a nil field is not
// sent (the server's default applies), Bool(false) sends an explicit false.
func Bool(v bool) *bool { return &v }
