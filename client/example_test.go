package client_test

import (
	"context"
	"errors"
	"log"
	"time"

	"github.com/stocksync/stocksync/client"
	"github.com/stocksync/stocksync/contract"
)

// An order service reserves over Kafka, then confirms.
func ExampleNewKafka() {
	ctx := context.Background()
	c, err := client.NewKafka(ctx, client.KafkaConfig{
		Brokers:     []string{"127.0.0.1:19092"},
		TopicPrefix: "stocksync.",
		Timeout:     5 * time.Second,
		// Opts: TLS and SASL, e.g. from the engine's config: settings.Kafka.FranzOpts().
	})
	if err != nil {
		log.Fatal(err)
	}
	defer c.Close()

	res, err := c.Reserve(ctx, "o-1", []contract.Line{{SKU: "A", Qty: 2}}, "web", 15*time.Minute)
	switch {
	case err != nil:
		log.Fatal(err) // see ExampleRetryable
	case res.Status == contract.StatusRejected:
		log.Printf("not reserved: %s", res.Error.Type) // insufficient_stock, conflict, …
		return
	}
	log.Printf("reserved at %s until %s", res.Lines[0].Location, res.ExpiresAt)
	if _, err := c.Confirm(ctx, "o-1"); err != nil {
		log.Fatal(err)
	}
}

// An order service reserves over the HTTP API with its bearer token.
func ExampleNewHTTP() {
	c, err := client.NewHTTP(client.HTTPConfig{
		BaseURL: "https://stocksync.internal",
		Token:   "the token from the tokens file, with orders:write",
	})
	if err != nil {
		log.Fatal(err)
	}
	res, err := c.Reserve(context.Background(), "o-2", []contract.Line{{SKU: "A", Qty: 1}}, "", 0)
	if err != nil {
		log.Fatal(err)
	}
	log.Println(res.Status)
}

// Retrying is safe with the same order id: the engine answers a repeat with
// its first answer. Errors that cannot get better are not retried.
func ExampleRetryable() {
	c, err := client.NewHTTP(client.HTTPConfig{BaseURL: "http://127.0.0.1:8080"})
	if err != nil {
		log.Fatal(err)
	}
	ctx := context.Background()
	lines := []contract.Line{{SKU: "A", Qty: 1}}
	for attempt := 1; ; attempt++ {
		res, err := c.Reserve(ctx, "o-3", lines, "web", 10*time.Minute)
		if err == nil {
			log.Println(res.Status) // reserved or rejected
			return
		}
		if !client.Retryable(err) || attempt == 5 {
			log.Fatal(err) // ErrInvalid, ErrUnauthorized, ErrForbidden, ErrServer
		}
		wait := time.Duration(attempt) * 200 * time.Millisecond
		var e *client.Error
		if errors.As(err, &e) && e.RetryAfter > wait {
			wait = e.RetryAfter // a 429 or 503 says when
		}
		time.Sleep(wait)
	}
}
