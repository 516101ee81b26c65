package client

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"iter"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// Event is one platform event of GET /v1/events (the body webhooks receive).
type Event struct {
	ID        string         `json:"id"`
	Type      string         `json:"event"`
	Timestamp string         `json:"timestamp"`
	Data      map[string]any `json:"data"`
}

// StreamOptions tunes Subscribe; nil means the defaults.
type StreamOptions struct {
	// MaxReconnects bounds consecutive failed reconnections after the stream broke (default 5;
	// negative: never reconnect). The first connection's failure is returned at once.
	MaxReconnects int
	// ReconnectDelay is the wait before reconnecting unless the server sent `retry:` (default 1 s).
	ReconnectDelay time.Duration
	// IdleTimeout drops and reopens a connection silent for this long (the server sends a
	// heartbeat comment regularly, so silence means a dead connection); 0 disables.
	IdleTimeout time.Duration
}

// EventsService covers GET /v1/events (Server-Sent Events).
type EventsService struct{ c *Client }

// Subscribe streams events as they happen. A broken connection is reopened with Last-Event-ID
// set to the last event seen, so the server first replays what was missed (as far as its
// bounded history reaches); params.LastEventID resumes an earlier subscription. The iteration
// ends when ctx is done (yielding ctx's error once), when the caller stops ranging, or with the
// error that ended the stream (the first connection's failure, or too many failed reconnects).
func (s *EventsService) Subscribe(ctx context.Context, params *StreamEventsParams, opts *StreamOptions) iter.Seq2[Event, error] {
	query := StreamEventsParams{}
	if params != nil {
		query = *params
	}
	options := StreamOptions{MaxReconnects: 5, ReconnectDelay: time.Second}
	if opts != nil {
		options = *opts
		if options.MaxReconnects == 0 {
			options.MaxReconnects = 5
		}
		if options.ReconnectDelay <= 0 {
			options.ReconnectDelay = time.Second
		}
	}
	// A stream lives as long as ctx: the configured client's overall timeout would cut it.
	streaming := *s.c.http
	streaming.Timeout = 0
	return func(yield func(Event, error) bool) {
		delay, failures, connected := options.ReconnectDelay, 0, false
		for {
			stream := &sseStream{delay: delay}
			err := s.once(ctx, &streaming, &query, options.IdleTimeout, stream, yield)
			delay = stream.delay
			switch {
			case stream.stopped:
				return
			case ctx.Err() != nil:
				yield(Event{}, ctx.Err())
				return
			case err != nil && !connected && !stream.opened:
				yield(Event{}, err) // the API never answered with a stream: not a broken one
				return
			case refused(err):
				yield(Event{}, err) // 400/401/403...: asking again cannot help
				return
			}
			connected = connected || stream.opened
			if stream.opened {
				failures = 0
			} else if failures++; options.MaxReconnects < 0 || failures > options.MaxReconnects {
				yield(Event{}, fmt.Errorf("hybridcloud: the event stream could not be reopened: %w", err))
				return
			}
			if stream.lastID != "" {
				query.LastEventID = stream.lastID
			}
			if err := sleep(ctx, delay); err != nil {
				yield(Event{}, err)
				return
			}
		}
	}
}

// refused reports an answer of the API that a reconnection would only repeat.
func refused(err error) bool {
	var apiErr *APIError
	return errors.As(err, &apiErr) && apiErr.StatusCode < 500 && apiErr.StatusCode != http.StatusTooManyRequests
}

// sseStream is the state of one connection: what the caller needs to resume after it.
type sseStream struct {
	opened  bool          // the server answered 2xx with an event stream
	stopped bool          // the caller stopped ranging
	lastID  string        // id of the last event seen
	delay   time.Duration // reconnection delay, updated by `retry:` lines
}

func (s *EventsService) once(ctx context.Context, httpClient *http.Client, params *StreamEventsParams,
	idle time.Duration, stream *sseStream, yield func(Event, error) bool) error {
	connCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	resp, err := s.c.exchange(connCtx, httpClient, request{method: http.MethodGet, path: "/v1/events", params: params}, "text/event-stream")
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/event-stream") {
		return fmt.Errorf("%w: GET /v1/events answered %q, not an event stream", ErrNotAvailable, resp.Header.Get("Content-Type"))
	}
	stream.opened = true
	var watchdog *time.Timer
	if idle > 0 {
		watchdog = time.AfterFunc(idle, cancel)
		defer watchdog.Stop()
	}
	scanner := bufio.NewScanner(resp.Body)
	scanner.Buffer(make([]byte, 64*1024), 1<<20)
	var id, kind string
	var data []string
	for scanner.Scan() {
		if watchdog != nil {
			watchdog.Reset(idle)
		}
		line := scanner.Text()
		if line == "" { // a blank line ends the frame
			if len(data) > 0 {
				event, err := decodeEvent(id, kind, strings.Join(data, "\n"))
				if err != nil {
					return err
				}
				if id != "" {
					stream.lastID = id
				}
				if !yield(event, nil) {
					stream.stopped = true
					return nil
				}
			}
			id, kind, data = "", "", nil
			continue
		}
		if strings.HasPrefix(line, ":") {
			continue // a comment: the server's heartbeat
		}
		field, value, _ := strings.Cut(line, ":")
		value = strings.TrimPrefix(value, " ")
		switch field {
		case "id":
			id = value
		case "event":
			kind = value
		case "data":
			data = append(data, value)
		case "retry":
			if ms, err := strconv.Atoi(value); err == nil && ms >= 0 {
				stream.delay = time.Duration(ms) * time.Millisecond
			}
		}
	}
	if err := scanner.Err(); err != nil && !errors.Is(err, context.Canceled) {
		return &ConnectionError{Err: err}
	}
	return nil
}

// decodeEvent reads a frame's JSON body; the frame's id and event lines win over the body's,
// since they are what Last-Event-ID must echo.
func decodeEvent(id, kind, data string) (Event, error) {
	var event Event
	if err := json.Unmarshal([]byte(data), &event); err != nil {
		return Event{}, fmt.Errorf("hybridcloud: an event that is not JSON: %w", err)
	}
	if id != "" {
		event.ID = id
	}
	if kind != "" {
		event.Type = kind
	}
	return event, nil
}
