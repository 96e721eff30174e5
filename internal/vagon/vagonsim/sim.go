package vagonsim

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"io"
	mrand "math/rand/v2"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/vagon-dashboard/dashboard/internal/vagon"
)

// BasePath is the path prefix every endpoint is served under.
const BasePath = "/organization-management/v1"

// maxBody bounds the request bodies the simulator reads.
const maxBody = 1 << 20

// Options configure a simulator. The zero value is usable: generated
// credentials, an empty fleet, the wall clock and the default durations.
type Options struct {
	// Key and Secret are the credentials requests must be signed with.
	// Empty: random ones are generated (see Sim.Credentials).
	Key, Secret string

	// Machines is how many machines to seed; Seed makes the fleet
	// deterministic (same seed and same clock time at New, same fleet).
	Machines int
	Seed     uint64

	// SessionsPerMachine, when > 0, gives every seeded machine exactly this
	// many past sessions (the machines seeded on their first start have
	// just their open one); 0 picks a realistic number per machine, leaves
	// some machines never started and resets a few.
	SessionsPerMachine int

	// Clock is the simulator's time; nil means time.Now. Use a ManualClock
	// in tests. State transitions are computed from it lazily.
	Clock func() time.Time

	// DefaultRegion is the account's default region for POST /machines. Empty:
	// requests without region are refused with 4202.
	DefaultRegion string

	// Balance is the organization balance in cents at start; nil means
	// DefaultBalance. MachinePrice is what creating one machine costs, in
	// cents (0 means DefaultMachinePrice).
	Balance      *int64
	MachinePrice int64

	// Durations of the transitional statuses; zero fields take the defaults
	// of DefaultDurations.
	Durations Durations

	// ActivityLogs is how many activity entries to seed (logins, file
	// events, starts and stops), from Seed, spread over the last
	// ActivityWindow (DefaultActivityWindow when zero). 0 seeds 5 per
	// machine; negative seeds none. The API's own calls add entries.
	ActivityLogs   int
	ActivityWindow time.Duration
	// LogShape is the item shape of the activity endpoints (SetLogShape
	// changes it later).
	LogShape LogShape
	// NoPermissionFields makes GET /machines/permission-fields answer 404,
	// like an API without the endpoint.
	NoPermissionFields bool
	// PermissionFields replaces the list GET /machines/permission-fields
	// serves (nil: vagon.KnownPermissionFields), e.g. to add a key the
	// dashboard does not know.
	PermissionFields []vagon.PermissionField
}

// Durations are how long each transitional status lasts.
type Durations struct {
	Creating         time.Duration // first start: creating, then warming_up
	WarmingUp        time.Duration
	TurningOn        time.Duration
	TurningOff       time.Duration
	GracefulStopping time.Duration
	Snapshot         time.Duration // latest_image_status "processing" after reaching off
}

// DefaultDurations are the demo-friendly defaults.
var DefaultDurations = Durations{
	Creating:         30 * time.Second,
	WarmingUp:        20 * time.Second,
	TurningOn:        20 * time.Second,
	TurningOff:       10 * time.Second,
	GracefulStopping: 30 * time.Second,
	Snapshot:         15 * time.Second,
}

// Default organization balance and machine price, in cents.
const (
	DefaultBalance      int64 = 500_000
	DefaultMachinePrice int64 = 2_500
)

// Sim is a simulated Vagon Computers API. It is an http.Handler and is safe
// for concurrent use.
type Sim struct {
	key, secret   string
	clock         func() time.Time
	durations     Durations
	defaultRegion string
	machinePrice  int64

	mu        sync.Mutex // guards everything below
	rng       *mrand.Rand
	balance   int64
	usage     orgUsage // GET /usage (usage.go)
	machines  map[int64]*machine
	order     []int64 // machine ids ascending
	nextID    int64   // machines
	nextTask  int64
	nextSess  int64
	nextLink  int64
	nonces    map[string]time.Time
	nonceFIFO []nonceEntry
	actLog    []activity // in time order
	nextAct   int64
	logShape  LogShape

	noPermFields bool
	permFields   []vagon.PermissionField

	fmu        sync.Mutex // guards the fault knobs and counters
	frng       *mrand.Rand
	faults     faultConfig
	forced     map[string][]Fault
	counts     map[string]int
	authCounts map[string]int
	total      int
}

// New builds a simulator and seeds its fleet.
func New(opts Options) *Sim {
	s := &Sim{
		key: opts.Key, secret: opts.Secret,
		clock:         opts.Clock,
		durations:     opts.Durations,
		defaultRegion: opts.DefaultRegion,
		machinePrice:  opts.MachinePrice,
		rng:           mrand.New(mrand.NewPCG(opts.Seed, 0x5eed)),
		frng:          mrand.New(mrand.NewPCG(opts.Seed, 0xfa17)),
		balance:       DefaultBalance,
		machines:      map[int64]*machine{},
		nextID:        100,
		nextTask:      10,
		nextSess:      1000,
		nextLink:      1,
		nextAct:       1,
		logShape:      opts.LogShape,
		noPermFields:  opts.NoPermissionFields,
		permFields:    slices.Clone(opts.PermissionFields),
		nonces:        map[string]time.Time{},
		forced:        map[string][]Fault{},
		counts:        map[string]int{},
		authCounts:    map[string]int{},
	}
	if s.clock == nil {
		s.clock = time.Now
	}
	if s.key == "" {
		s.key = "vsim_" + randomHex(8)
	}
	if s.secret == "" {
		s.secret = randomHex(32)
	}
	if opts.Balance != nil {
		s.balance = *opts.Balance
	}
	if s.machinePrice <= 0 {
		s.machinePrice = DefaultMachinePrice
	}
	d, def := &s.durations, DefaultDurations
	for _, p := range []struct{ v, def *time.Duration }{
		{&d.Creating, &def.Creating}, {&d.WarmingUp, &def.WarmingUp}, {&d.TurningOn, &def.TurningOn},
		{&d.TurningOff, &def.TurningOff}, {&d.GracefulStopping, &def.GracefulStopping}, {&d.Snapshot, &def.Snapshot},
	} {
		if *p.v <= 0 {
			*p.v = *p.def
		}
	}
	s.usage = orgUsage{base: DefaultUsageMinutes, epoch: s.now()}
	s.seed(opts)
	s.seedActivity(opts)
	return s
}

func randomHex(n int) string {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		panic("vagonsim: crypto/rand: " + err.Error())
	}
	return hex.EncodeToString(b)
}

// Credentials returns the key and secret requests must be signed with.
func (s *Sim) Credentials() (key, secret string) { return s.key, s.secret }

// now is the simulator clock in UTC, at millisecond precision like the API.
func (s *Sim) now() time.Time { return s.clock().UTC().Truncate(time.Millisecond) }

// apiError is an error answer: a client_code and a message.
type apiError struct {
	code int
	msg  string
}

func errf(code int, msg string) *apiError { return &apiError{code: code, msg: msg} }

// HTTPStatus returns the HTTP status the simulator sends with a client_code
// (see the package documentation's table).
func HTTPStatus(clientCode int) int {
	switch {
	case clientCode == 480:
		return http.StatusPaymentRequired
	case clientCode == 4710:
		return http.StatusForbidden
	case clientCode >= 4000 && clientCode < 5000:
		return http.StatusUnprocessableEntity
	case clientCode >= 100 && clientCode < 600:
		return clientCode
	default:
		return http.StatusInternalServerError
	}
}

// route is one endpoint: its method and pattern relative to BasePath.
type route struct {
	method, pattern string
	segs            []string
	handle          func(s *Sim, c *call) (any, *apiError)
}

// call is one request as a handler sees it.
type call struct {
	r      *http.Request
	body   []byte
	params map[string]string
	now    time.Time
}

func (c *call) param(name string) string { return c.params[name] }

var routes = func() []route {
	rs := []route{
		{method: "GET", pattern: "/machines", handle: (*Sim).listMachines},
		{method: "POST", pattern: "/machines", handle: (*Sim).createMachines},
		{method: "PATCH", pattern: "/machines/{id}", handle: (*Sim).updateMachine},
		{method: "POST", pattern: "/machines/{id}/start", handle: (*Sim).startMachine},
		{method: "POST", pattern: "/machines/{id}/stop", handle: (*Sim).stopMachine},
		{method: "GET", pattern: "/machines/{id}/available-machine-types", handle: (*Sim).listMachineTypes},
		{method: "POST", pattern: "/machines/{id}/machine-type", handle: (*Sim).setMachineType},
		{method: "POST", pattern: "/machines/{id}/access", handle: (*Sim).createAccess},
		{method: "POST", pattern: "/machines/{id}/reset", handle: (*Sim).resetMachine},
		{method: "POST", pattern: "/machines/{id}/permissions", handle: (*Sim).updatePermissions},
		{method: "GET", pattern: "/machines/{id}/sessions", handle: (*Sim).listSessions},
		{method: "GET", pattern: "/machines/{id}/tasks", handle: (*Sim).listTasks},
		{method: "POST", pattern: "/machines/{id}/tasks", handle: (*Sim).activateTask},
		{method: "DELETE", pattern: "/machines/{id}/tasks/{task_id}", handle: (*Sim).deleteTask},
		{method: "GET", pattern: "/software", handle: (*Sim).listSoftware},
		{method: "GET", pattern: "/machines/permission-fields", handle: (*Sim).listPermissionFields},
		{method: "GET", pattern: "/user-action-logs", handle: (*Sim).listUserActionLogs},
		{method: "GET", pattern: "/user-action-logs/archived-download-urls", handle: (*Sim).archivedLogURLs},
		{method: "GET", pattern: "/usage", handle: (*Sim).getUsage},
	}
	for i := range rs {
		rs[i].segs = strings.Split(strings.Trim(rs[i].pattern, "/"), "/")
	}
	return rs
}()

// Endpoints lists the 19 endpoint names ("METHOD /pattern") the counters use.
func Endpoints() []string {
	out := make([]string, len(routes))
	for i, r := range routes {
		out[i] = r.method + " " + r.pattern
	}
	return out
}

// match finds the route for a method and a path relative to BasePath. found
// is false when no pattern matches the path; methodOK is false when one does
// but not with this method.
func match(method, rel string) (rt *route, params map[string]string, found, methodOK bool) {
	segs := strings.Split(strings.Trim(rel, "/"), "/")
	for i := range routes {
		r := &routes[i]
		if len(r.segs) != len(segs) {
			continue
		}
		p := map[string]string{}
		ok := true
		for j, pat := range r.segs {
			if strings.HasPrefix(pat, "{") {
				if segs[j] == "" {
					ok = false
					break
				}
				p[strings.Trim(pat, "{}")] = segs[j]
			} else if pat != segs[j] {
				ok = false
				break
			}
		}
		if !ok {
			continue
		}
		found = true
		if r.method == method {
			return r, p, true, true
		}
	}
	return nil, nil, found, false
}

// ServeHTTP serves the API: count, faults, authentication, then the endpoint.
func (s *Sim) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	var body []byte
	var err error
	if r.Body != nil {
		body, err = io.ReadAll(io.LimitReader(r.Body, maxBody+1))
	}
	if err != nil {
		s.writeError(w, errf(400, "cannot read request body"), 0)
		return
	}
	rel, underBase := strings.CutPrefix(r.URL.Path, BasePath)
	var (
		rt       *route
		params   map[string]string
		found    bool
		methodOK bool
	)
	if underBase && (rel == "" || rel[0] == '/') {
		rt, params, found, methodOK = match(r.Method, rel)
	}
	endpoint := "unmatched"
	if rt != nil {
		endpoint = rt.method + " " + rt.pattern
	}
	s.count(endpoint)

	if !s.applyLatency(r) {
		return
	}
	if f, ok := s.nextFault(endpoint); ok {
		s.writeFault(w, f)
		return
	}
	if len(body) > maxBody {
		s.writeError(w, errf(400, "request body too large"), 0)
		return
	}
	if e := s.authenticate(r, body); e != nil {
		s.writeError(w, e, 0)
		return
	}
	s.countAuth(endpoint)

	switch {
	case rt == nil && found && !methodOK:
		s.writeError(w, errf(405, "method not allowed"), 0)
		return
	case rt == nil:
		s.writeError(w, errf(404, "no such endpoint"), 0)
		return
	}
	c := &call{r: r, body: body, params: params}
	s.mu.Lock()
	c.now = s.now()
	out, e := rt.handle(s, c)
	s.mu.Unlock()
	if e != nil {
		s.writeError(w, e, 0)
		return
	}
	s.writeJSON(w, http.StatusOK, out)
}

// envelope is the success envelope at t.
func envelope(t time.Time) vagon.Envelope {
	return vagon.Envelope{ClientCode: 200, Message: "OK", Timestamp: stamp(t)}
}

// stamp formats a response timestamp (ISO 8601, seconds, UTC).
func stamp(t time.Time) string { return t.UTC().Format("2006-01-02T15:04:05Z") }

// writeError writes an error answer; retryAfter > 0 adds a Retry-After header.
func (s *Sim) writeError(w http.ResponseWriter, e *apiError, retryAfter int) {
	if retryAfter > 0 {
		w.Header().Set("Retry-After", strconv.Itoa(retryAfter))
	}
	s.writeJSON(w, HTTPStatus(e.code), vagon.Envelope{ClientCode: e.code, Message: e.msg, Timestamp: stamp(s.now())})
}

// writeJSON encodes v and writes it, applying the malformed-body and
// slow-body knobs.
func (s *Sim) writeJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		status = http.StatusInternalServerError
		b = []byte(`{"client_code":500,"message":"simulator: cannot encode response"}`)
	}
	b = s.maybeMalform(b)
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	s.writeBody(w, status, b)
}

// writeBody writes status and body, in delayed chunks when slow bodies are on.
func (s *Sim) writeBody(w http.ResponseWriter, status int, b []byte) {
	chunk, delay := s.slowBody()
	if chunk <= 0 || len(b) <= chunk {
		w.Header().Set("Content-Length", strconv.Itoa(len(b)))
		w.WriteHeader(status)
		_, _ = w.Write(b)
		return
	}
	w.WriteHeader(status)
	fl, _ := w.(http.Flusher)
	for r := bytes.NewReader(b); r.Len() > 0; {
		part := make([]byte, min(chunk, r.Len()))
		_, _ = r.Read(part)
		if _, err := w.Write(part); err != nil {
			return
		}
		if fl != nil {
			fl.Flush()
		}
		if r.Len() > 0 {
			time.Sleep(delay)
		}
	}
}

// uuid returns a version-4 UUID from the simulator's seeded generator, so a
// seeded fleet is the same every time. The caller holds s.mu.
func (s *Sim) uuid() string {
	var b [16]byte
	for i := 0; i < 16; i += 8 {
		v := s.rng.Uint64()
		for j := 0; j < 8; j++ {
			b[i+j] = byte(v >> (8 * j))
		}
	}
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	h := hex.EncodeToString(b[:])
	return h[0:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:]
}

// randomUUID returns a version-4 UUID from crypto/rand, for credentials-like
// values (access links) that must not be predictable.
func randomUUID() string {
	b := make([]byte, 16)
	if _, err := rand.Read(b); err != nil {
		panic("vagonsim: crypto/rand: " + err.Error())
	}
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	h := hex.EncodeToString(b)
	return h[0:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:]
}
