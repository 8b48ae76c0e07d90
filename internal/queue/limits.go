package queue

import (
	"sync"
	"time"

	"github.com/posthorn/posthorn/internal/smtp"
)

// Limiter enforces per-account limits on mail sent to other servers, so
// a compromised account cannot send much spam before someone notices. It
// counts in memory (a restart forgets the counts) over sliding windows:
// messages in the last 24 hours, recipients in the last hour. A message
// counts when its first remote recipient is accepted.
type Limiter struct {
	MessagesPerDay    int              // 0: no limit
	RecipientsPerHour int              // 0: no limit
	Now               func() time.Time // nil: time.Now

	mu       sync.Mutex
	messages map[string][]time.Time
	rcpts    map[string][]time.Time
}

// AllowRecipient implements smtpserver.OutboundLimiter.
func (l *Limiter) AllowRecipient(account string, first bool) error {
	now := time.Now()
	if l.Now != nil {
		now = l.Now()
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.messages == nil {
		l.messages, l.rcpts = map[string][]time.Time{}, map[string][]time.Time{}
	}
	if first && l.MessagesPerDay > 0 {
		m := trim(l.messages[account], now.Add(-24*time.Hour))
		l.messages[account] = m
		if len(m) >= l.MessagesPerDay {
			return smtp.Errorf(450, smtp.Enhanced{4, 7, 1},
				"Account %s has reached its limit of %d messages to other domains per day; try again later or ask the postmaster to raise [queue] account_messages_per_day", account, l.MessagesPerDay)
		}
	}
	if l.RecipientsPerHour > 0 {
		r := trim(l.rcpts[account], now.Add(-time.Hour))
		l.rcpts[account] = r
		if len(r) >= l.RecipientsPerHour {
			return smtp.Errorf(450, smtp.Enhanced{4, 7, 1},
				"Account %s has reached its limit of %d recipients at other domains per hour; try again later or ask the postmaster to raise [queue] account_recipients_per_hour", account, l.RecipientsPerHour)
		}
		l.rcpts[account] = append(r, now)
	}
	if first && l.MessagesPerDay > 0 {
		l.messages[account] = append(l.messages[account], now)
	}
	return nil
}

// trim drops the times before since.
func trim(ts []time.Time, since time.Time) []time.Time {
	i := 0
	for i < len(ts) && ts[i].Before(since) {
		i++
	}
	return ts[i:]
}
