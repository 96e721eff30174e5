package vagonsim

import "time"

// DefaultUsageMinutes is the organization usage (GET /usage) at New: 1,000
// hours, counted in DefaultUsageMachineType.
const (
	DefaultUsageMinutes     int64 = 60_000
	DefaultUsageMachineType       = "Planet"
)

// orgUsage is the organization's usage account. It draws down by every
// minute any machine runs after epoch (the simulator's start, or the last
// SetUsageMinutes), on the simulator's clock, so the balance falls while
// machines run and stays put while they are off.
type orgUsage struct {
	base  int64 // minutes at epoch
	epoch time.Time
}

// usageWire is the GET /usage answer.
type usageWire struct {
	UsageMinutes int64  `json:"usage_minutes"`
	MachineType  string `json:"machine_type"`
	ClientCode   int    `json:"client_code"`
	Message      string `json:"message"`
	Timestamp    string `json:"timestamp"`
}

// usageMinutes is the organization usage at now. The caller holds s.mu.
func (s *Sim) usageMinutes(now time.Time) int64 {
	u := s.usage
	if u.epoch.IsZero() {
		u = orgUsage{base: DefaultUsageMinutes}
	}
	var ran time.Duration
	for _, m := range s.machines {
		for _, ss := range m.sessions {
			start, end := ss.start, ss.end
			if end.IsZero() {
				end = now
			}
			if start.Before(u.epoch) {
				start = u.epoch
			}
			if end.After(start) {
				ran += end.Sub(start)
			}
		}
	}
	return max(0, u.base-int64(ran/time.Minute))
}

// getUsage serves GET /usage.
func (s *Sim) getUsage(c *call) (any, *apiError) {
	env := envelope(c.now)
	return usageWire{
		UsageMinutes: s.usageMinutes(c.now), MachineType: DefaultUsageMachineType,
		ClientCode: env.ClientCode, Message: env.Message, Timestamp: env.Timestamp,
	}, nil
}

// UsageMinutes returns what GET /usage answers now.
func (s *Sim) UsageMinutes() int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.usageMinutes(s.now())
}

// SetUsageMinutes sets the organization usage to minutes now; running
// machines draw it down from here.
func (s *Sim) SetUsageMinutes(minutes int64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.usage = orgUsage{base: minutes, epoch: s.now()}
}
