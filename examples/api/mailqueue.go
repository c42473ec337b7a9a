package main

import (
	"context"
	"log/slog"
	"sync"
	"time"
)

// mailQueueSize is how many account e-mails may wait for the worker. Past
// it a request's e-mail is dropped (and logged, without the address): the
// request was answered already, the same way whatever its address.
const mailQueueSize = 256

// mailJobTimeout bounds one job's store reads, minting and sending.
const mailJobTimeout = 30 * time.Second

// mailQueue runs the account e-mails' work (the lookup, the minting and
// the sending) on one background worker, after the request has been
// answered. The request path then does the same work for a known and an
// unknown address, a new and a taken one: it enqueues a job and answers
// 202, so neither its answer nor its time tells them apart.
type mailQueue struct {
	logger *slog.Logger
	jobs   chan func(context.Context)
	done   chan struct{} // closed when the worker has drained the queue

	mu      sync.Mutex
	closed  bool
	started bool
}

// newMailQueue returns a queue of size jobs; start starts its worker.
func newMailQueue(size int, logger *slog.Logger) *mailQueue {
	return &mailQueue{logger: logger, jobs: make(chan func(context.Context), size), done: make(chan struct{})}
}

// start starts the worker (once).
func (q *mailQueue) start() {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.started {
		return
	}
	q.started = true
	go func() {
		defer close(q.done)
		for job := range q.jobs {
			q.run(job)
		}
	}()
}

func (q *mailQueue) run(job func(context.Context)) {
	ctx, cancel := context.WithTimeout(context.Background(), mailJobTimeout)
	defer cancel()
	defer func() {
		if p := recover(); p != nil {
			q.logger.Error("account e-mail: the job panicked", slog.Any("panic", p))
		}
	}()
	job(ctx)
}

// enqueue adds job without blocking. A full or closed queue drops it with
// a warning that names no address.
func (q *mailQueue) enqueue(job func(context.Context)) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.closed {
		q.logger.Warn("account e-mail dropped: the server is shutting down")
		return
	}
	select {
	case q.jobs <- job:
	default:
		q.logger.Warn("account e-mail dropped: the mail queue is full", slog.Int("queue_size", cap(q.jobs)))
	}
}

// flush waits until every job enqueued before it has run (tests use it).
func (q *mailQueue) flush(ctx context.Context) error {
	ran := make(chan struct{})
	q.mu.Lock()
	if q.closed {
		q.mu.Unlock()
		return nil
	}
	// Under the lock, so that close cannot close jobs meanwhile; the
	// worker never takes the lock, so it drains while this blocks.
	select {
	case q.jobs <- func(context.Context) { close(ran) }:
	case <-ctx.Done():
		q.mu.Unlock()
		return ctx.Err()
	}
	q.mu.Unlock()
	select {
	case <-ran:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// close refuses new jobs and waits until the worker has run the queued
// ones (the server's close function calls it at shutdown).
func (q *mailQueue) close() {
	q.mu.Lock()
	if q.closed {
		q.mu.Unlock()
		<-q.done
		return
	}
	q.closed = true
	close(q.jobs)
	started := q.started
	q.mu.Unlock()
	if !started {
		for job := range q.jobs {
			q.run(job)
		}
		close(q.done)
		return
	}
	<-q.done
}
