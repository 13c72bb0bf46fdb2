package inventory

// The engine's table holds four kinds of keys (docs/design.md, "State"). A
// SKU is its own key, so a goka view with the murmur2 hasher finds it; the
// other kinds start with a zero byte, which no SKU may contain
// (contract.CheckKey refuses control characters).
const (
	orderPrefix = "\x00o" // an order, at its route partition
	dirPrefix   = "\x00d" // order id → route SKU, at the order id's partition
	holdPrefix  = "\x00h" // lines held for an order routed elsewhere, at their partition
)

func orderKey(id string) string { return orderPrefix + id }
func dirKey(id string) string   { return dirPrefix + id }
func holdKey(id string) string  { return holdPrefix + id }
