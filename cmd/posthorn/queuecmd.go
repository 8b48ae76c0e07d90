package main

import (
	"context"
	"fmt"
	"io"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/posthorn/posthorn/internal/admin"
)

func cmdQueue(ctx context.Context, env *cliEnv, args []string) error {
	return adminCommand(ctx, env, "queue", "list|show|retry|hold|release|drop [ID]", `
Inspect and manage the outbound queue: messages waiting for delivery to
other servers, one entry per destination domain.
  list          list entries: id, age, sender, recipients, domain, attempts,
                next attempt, last error
  show ID       show an entry: every recipient's state and last answer, and
                the message header
  retry [ID]    try an entry (without ID: every entry not held) now; a held
                entry stays held (release tries it)
  hold ID       keep an entry from being delivered until released
  release ID    release a held entry and try it now
  drop ID       delete an entry without delivering it or telling the sender
ID is an entry number (from list) or a message id: the id in posthorn's
250 reply ("stored as ID") and its log lines, for every entry of that
message (one per destination domain). Entry numbers are never reused.`, args,
		func(api admin.API, sub string, rest []string) error {
			var ids []int64
			if len(rest) > 0 {
				var err error
				if ids, err = queueIDs(ctx, api, rest[0]); err != nil {
					return err
				}
			}
			needID := func() error {
				if len(ids) == 0 {
					return usageError{"missing ID"}
				}
				return nil
			}
			now := time.Now()
			switch sub {
			case "list":
				es, err := api.ListQueue(ctx, admin.Empty{})
				if err != nil {
					return err
				}
				return printQueue(env.stdout, es, now)
			case "show":
				if err := needID(); err != nil {
					return err
				}
				for i, id := range ids {
					e, err := api.ShowQueue(ctx, admin.QueueRequest{ID: id})
					if err != nil {
						return err
					}
					if i > 0 {
						fmt.Fprintln(env.stdout)
					}
					printQueueEntry(env.stdout, e, now)
				}
				return nil
			case "retry":
				if len(ids) == 0 {
					ids = []int64{0} // every entry
				}
				n := 0
				for _, id := range ids {
					es, err := api.RetryQueue(ctx, admin.QueueRequest{ID: id})
					if err != nil {
						return err
					}
					n += len(es)
				}
				fmt.Fprintf(env.stdout, "%d entries will be tried now\n", n)
				return nil
			case "hold", "release":
				if err := needID(); err != nil {
					return err
				}
				f := api.HoldQueue
				if sub == "release" {
					f = api.ReleaseQueue
				}
				for _, id := range ids {
					e, err := f(ctx, admin.QueueRequest{ID: id})
					if err != nil {
						return err
					}
					state := "held"
					if !e.Held {
						state = "released; it will be tried now"
					}
					fmt.Fprintf(env.stdout, "entry %d %s\n", e.ID, state)
				}
				return nil
			case "drop":
				if err := needID(); err != nil {
					return err
				}
				for _, id := range ids {
					if _, err := api.DropQueue(ctx, admin.QueueRequest{ID: id}); err != nil {
						return err
					}
					fmt.Fprintf(env.stdout, "entry %d dropped; the sender was not told\n", id)
				}
				return nil
			}
			return usageError{fmt.Sprintf("unknown subcommand %q", sub)}
		})
}

// queueIDs resolves an ID argument: a queue entry number ("12" or "#12"),
// or the message id of the SMTP server's 250 reply and log lines ("stored
// as sp5qqz7ntdb2g"), which names every entry of that message (one per
// destination domain).
func queueIDs(ctx context.Context, api admin.API, arg string) ([]int64, error) {
	if n, err := strconv.ParseInt(strings.TrimPrefix(arg, "#"), 10, 64); err == nil {
		if n <= 0 {
			return nil, usageError{fmt.Sprintf("%q is not a queue entry id", arg)}
		}
		return []int64{n}, nil
	}
	es, err := api.ListQueue(ctx, admin.Empty{})
	if err != nil {
		return nil, err
	}
	var ids []int64
	for _, e := range es {
		if e.MessageID != "" && strings.EqualFold(e.MessageID, arg) {
			ids = append(ids, e.ID)
		}
	}
	if len(ids) == 0 {
		return nil, fmt.Errorf("no queue entry for %q: not a queue entry number, and no queued message has that id (delivered or bounced already? the log lines with id=%s say)", arg, arg)
	}
	return ids, nil
}

// printQueue writes the queue as a table.
func printQueue(w io.Writer, es []admin.QueueEntryInfo, now time.Time) error {
	if len(es) == 0 {
		fmt.Fprintln(w, "the queue is empty")
		return nil
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tAGE\tSENDER\tRECIPIENTS\tDOMAIN\tATTEMPTS\tNEXT ATTEMPT\tLAST ERROR")
	for _, e := range es {
		var pending []string
		for _, r := range e.Recipients {
			if r.Status == "pending" {
				pending = append(pending, r.Address)
			}
		}
		rcpts := strings.Join(pending, ",")
		if len(pending) > 2 {
			rcpts = fmt.Sprintf("%s,%s (+%d)", pending[0], pending[1], len(pending)-2)
		}
		next := "in " + roughDuration(e.NextAttempt.Sub(now))
		switch {
		case e.Held:
			next = "held"
		case !e.NextAttempt.After(now):
			next = "now"
		}
		fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\t%d\t%s\t%s\n", e.ID, roughDuration(now.Sub(e.Created)), senderOrNull(e.Sender),
			rcpts, e.Domain, e.Attempts, next, clip(e.LastError, 60))
	}
	return tw.Flush()
}

func printQueueEntry(w io.Writer, e admin.QueueEntryInfo, now time.Time) {
	fmt.Fprintf(w, "entry:        %d\n", e.ID)
	if e.MessageID != "" {
		fmt.Fprintf(w, "message id:   %s\n", e.MessageID)
	}
	fmt.Fprintf(w, "sender:       %s\n", senderOrNull(e.Sender))
	fmt.Fprintf(w, "domain:       %s\n", e.Domain)
	fmt.Fprintf(w, "queued:       %s (%s ago)\n", e.Created.Local().Format(time.RFC1123Z), roughDuration(now.Sub(e.Created)))
	fmt.Fprintf(w, "size:         %d bytes\n", e.Size)
	fmt.Fprintf(w, "attempts:     %d\n", e.Attempts)
	if e.Held {
		fmt.Fprintf(w, "next attempt: held (posthorn queue release %d)\n", e.ID)
	} else {
		fmt.Fprintf(w, "next attempt: %s\n", e.NextAttempt.Local().Format(time.RFC1123Z))
	}
	if e.LastError != "" {
		fmt.Fprintf(w, "last error:   %s\n", e.LastError)
	}
	if e.EnvID != "" || e.Ret != "" {
		fmt.Fprintf(w, "dsn:          envid=%s ret=%s\n", e.EnvID, e.Ret)
	}
	fmt.Fprintln(w, "recipients:")
	for _, r := range e.Recipients {
		fmt.Fprintf(w, "  %-9s %s", r.Status, r.Address)
		if r.Reply != "" {
			fmt.Fprintf(w, "  (%s)", r.Reply)
		}
		fmt.Fprintln(w)
	}
	if e.Header != "" {
		fmt.Fprintf(w, "\n%s", strings.ReplaceAll(e.Header, "\r\n", "\n"))
	}
}

func senderOrNull(s string) string {
	if s == "" {
		return "<>"
	}
	return s
}

// roughDuration writes d to the minute, hour or day.
func roughDuration(d time.Duration) string {
	switch {
	case d < time.Minute:
		return fmt.Sprintf("%ds", int(d.Seconds()))
	case d < time.Hour:
		return fmt.Sprintf("%dm", int(d.Minutes()))
	case d < 48*time.Hour:
		return fmt.Sprintf("%dh%02dm", int(d.Hours()), int(d.Minutes())%60)
	}
	return fmt.Sprintf("%dd", int(d.Hours()/24))
}

func clip(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n-3] + "..."
}
