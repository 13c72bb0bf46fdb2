// Package fraud finds anomalies in returns and loyalty in near real time
// (docs/fraud.md). Two goka groups on Pebble tables keep rolling features:
//
//   - customers (key customer_id) reads <prefix>returns, <prefix>loyalty and
//     <prefix>sales: returns count, amount and those without a matching
//     sale per window, return and redemption velocity, accrual and
//     redemption points per window, redemption right after an accrual. It
//     re-keys each accepted return by store onto <prefix>fraud.refunds.
//   - stores (key store) reads <prefix>fraud.refunds: each cashier's share
//     of the store's refunds and refund velocity.
//
// Each feature is scored against the entity's own history (EWMA) and the
// population's (robust z-score over median and MAD); a Scorer (the config's
// rules by default, or a model) turns the scores into alerts on
// <prefix>fraud.alerts. Each event id applies once (the ids are kept in the
// table); invalid messages go to <prefix>dlq with the reason.
//
// Metrics, registered on Config.Registry:
//
//	stocksync_fraud_events_total{topic,outcome}         events by outcome: applied, duplicate, stale, invalid, rerouted
//	stocksync_fraud_rule_fired_total{rule,entity_type}  rules (or models) that fired into an alert
//	stocksync_fraud_alerts_total{entity_type}           alerts raised
//	stocksync_fraud_labels_total{rule,label}            analysts' labels (fraud, legit) by rule of the labelled alert
package fraud
