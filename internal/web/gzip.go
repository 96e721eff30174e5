package web

import (
	"strings"

	"github.com/labstack/echo/v4"
	"github.com/labstack/echo/v4/middleware"
)

// mwGzip compresses pages and fragments; CSV downloads stream uncompressed
// so each row leaves as soon as it is written.
func (s *Server) mwGzip(next echo.HandlerFunc) echo.HandlerFunc {
	return middleware.GzipWithConfig(middleware.GzipConfig{
		Level:     5,
		MinLength: 1024,
		Skipper: func(c echo.Context) bool {
			return strings.HasSuffix(c.Request().URL.Path, ".csv")
		},
	})(next)
}
