package v1

import (
	"net/http"
	"strconv"

	"esauth/lib/errs"
	"esauth/lib/page"
)

const (
	defaultPage = 50
	maxPage     = 200
)

// pageParams reads ?limit= (1–200, default 50) and ?cursor= (the
// next_cursor of the previous page) of a paged list.
func pageParams(r *http.Request) (int, *page.Cursor, error) {
	q := r.URL.Query()
	limit := defaultPage
	if q.Has("limit") { // present but empty is no number either
		n, err := strconv.Atoi(q.Get("limit"))
		if err != nil || n < 1 || n > maxPage {
			return 0, nil, errs.InvalidFields(map[string]string{"limit": "limit must be a whole number from 1 to 200."})
		}
		limit = n
	}
	after, err := page.Decode(q.Get("cursor"))
	if err != nil {
		return 0, nil, errs.InvalidFields(map[string]string{"cursor": "The cursor is not valid; use next_cursor from the previous page."})
	}
	return limit, after, nil
}
