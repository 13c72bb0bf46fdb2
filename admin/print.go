package admin

import (
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
)

// Print writes the report as tables a person reads in a terminal.
func (r Report) Print(w io.Writer) {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "TOPIC\tPARTITIONS\tCOMPACTED\tCHECK")
	for _, t := range r.Topics {
		check := "ok"
		if t.Problem != "" {
			check = "PROBLEM: " + t.Problem
		}
		fmt.Fprintf(tw, "%s\t%d\t%v\t%s\n", t.Name, t.Partitions, t.Compacted, check)
	}
	tw.Flush()
	for _, g := range r.Groups {
		fmt.Fprintf(w, "\nGROUP %s (%s), %d instance(s)\n", g.Name, g.State, len(g.Members))
		tw = tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "INSTANCE\tHOST\tAPI\tPARTITIONS")
		for _, m := range g.Members {
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", m.ClientID, m.Host, orDash(m.URL), ints(m.Partitions))
		}
		tw.Flush()
		tw = tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "TOPIC\tPARTITION\tOWNER\tCOMMITTED\tEND\tLAG")
		var total int64
		for _, l := range g.Lag {
			fmt.Fprintf(tw, "%s\t%d\t%s\t%d\t%d\t%d\n", l.Topic, l.Partition, orDash(l.Owner), l.Committed, l.End, l.Lag)
			total += l.Lag
		}
		tw.Flush()
		fmt.Fprintf(w, "total lag: %d\n", total)
	}
}

// Healthy is true when every topic matches the config.
func (r Report) Healthy() bool {
	for _, t := range r.Topics {
		if t.Problem != "" {
			return false
		}
	}
	return true
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func ints(ps []int32) string {
	if len(ps) == 0 {
		return "-"
	}
	parts := make([]string, len(ps))
	for i, p := range ps {
		parts[i] = fmt.Sprint(p)
	}
	return strings.Join(parts, ",")
}
