package web

import "time"

// apiTimeout bounds one page's calls to the Vagon API.
const apiTimeout = 20 * time.Second
