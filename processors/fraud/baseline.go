package fraud

import (
	"math"
	"slices"
	"sync"
)

// maxZ caps a z-score: beyond it the number says nothing more, and a cap
// keeps scores readable and JSON-encodable (no Inf).
const maxZ = 100

// EWMA is an entity's own baseline of one feature: an exponentially
// weighted mean and variance of its past values (Finch 2009, "Incremental
// calculation of weighted mean and variance").
type EWMA struct {
	Mean float64
	Var  float64
	N    int // values seen
}

// Update adds x with weight alpha.
func (e *EWMA) Update(x, alpha float64) {
	if e.N == 0 {
		e.Mean, e.Var, e.N = x, 0, 1
		return
	}
	d := x - e.Mean
	e.Mean += alpha * d
	e.Var = (1 - alpha) * (e.Var + alpha*d*d)
	e.N++
}

// Z is how many standard deviations x lies above the mean. The deviation
// has a floor of 10% of the mean and of 1 unit of the feature's scale, so a
// steady history (variance 0) does not turn any change into an infinite z.
func (e EWMA) Z(x, unit float64) float64 {
	sd := max(math.Sqrt(e.Var), 0.1*math.Abs(e.Mean), unit)
	return clampZ((x - e.Mean) / sd)
}

// OwnBaseline is the entity's history of a feature as an alert shows it.
type OwnBaseline struct {
	Mean float64 `json:"mean"`
	Std  float64 `json:"std"`
	N    int     `json:"n"`
	Z    float64 `json:"z"`
}

// PopulationBaseline is the population of a feature as an alert shows it:
// median and median absolute deviation of the recent values of all
// entities this instance scores.
type PopulationBaseline struct {
	Median float64 `json:"median"`
	MAD    float64 `json:"mad"`
	N      int     `json:"n"`
	Z      float64 `json:"z"`
}

// population is a sample of one feature over the entities of one
// instance: the latest value of each of the last populationSize entities
// that had one, so the median is over entities, not events (a fraudster's
// hundred refunds weigh as one cashier, not as a hundred). Its median and
// MAD are recomputed every recomputeEvery updates. It lives in memory:
// after a restart it refills from the traffic (docs/fraud.md "Restart").
type population struct {
	mu     sync.Mutex
	values []float64      // ring of the latest value per entity
	owner  []string       // the entity of each slot
	slot   map[string]int // entity → its slot
	next   int
	filled bool
	since  int // updates since the last recompute
	median float64
	scale  float64 // robust standard deviation
	mad    float64
}

const (
	populationSize = 4096 // entities kept per feature
	recomputeEvery = 64
)

func newPopulation() *population {
	return &population{values: make([]float64, populationSize), owner: make([]string, populationSize), slot: map[string]int{}}
}

// Baseline returns x's robust z-score against the population.
func (p *population) Baseline(x float64) PopulationBaseline {
	p.mu.Lock()
	defer p.mu.Unlock()
	n := p.n()
	b := PopulationBaseline{Median: p.median, MAD: p.mad, N: n}
	switch {
	case n == 0 || x == p.median:
	case p.scale == 0: // every entity has the same value: any other is as far out as z goes
		b.Z = math.Copysign(maxZ, x-p.median)
	default:
		b.Z = clampZ((x - p.median) / p.scale)
	}
	return b
}

// Add sets entity's value to x.
func (p *population) Add(entity string, x float64) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if i, ok := p.slot[entity]; ok {
		p.values[i] = x
	} else {
		if p.filled {
			delete(p.slot, p.owner[p.next])
		}
		p.values[p.next], p.owner[p.next], p.slot[entity] = x, entity, p.next
		p.next++
		if p.next == len(p.values) {
			p.next, p.filled = 0, true
		}
	}
	p.since++
	if p.since >= recomputeEvery || p.n() < recomputeEvery {
		p.recompute()
	}
}

func (p *population) n() int {
	if p.filled {
		return len(p.values)
	}
	return p.next
}

// recompute sets the median and the robust scale: 1.4826 × MAD, which
// estimates the standard deviation of normal data; when more than half the
// values are equal (MAD 0, common for counts), 1.2533 × the mean absolute
// deviation from the median (the fallback of the modified z-score), and
// failing that (all values equal) 0, which Baseline reads as "any other
// value is an outlier".
func (p *population) recompute() {
	p.since = 0
	v := slices.Clone(p.values[:p.n()])
	slices.Sort(v)
	p.median = quantile(v, 0.5)
	dev := make([]float64, len(v))
	var sum float64
	for i, x := range v {
		dev[i] = math.Abs(x - p.median)
		sum += dev[i]
	}
	slices.Sort(dev)
	p.mad = quantile(dev, 0.5)
	switch meanAD := sum / float64(len(v)); {
	case p.mad > 0:
		p.scale = 1.4826 * p.mad
	case meanAD > 0:
		p.scale = 1.2533 * meanAD
	default:
		p.scale = 0
	}
}

// quantile of sorted values, nearest rank.
func quantile(sorted []float64, q float64) float64 {
	if len(sorted) == 0 {
		return 0
	}
	return sorted[min(len(sorted)-1, int(q*float64(len(sorted))))]
}

func clampZ(z float64) float64 {
	if math.IsNaN(z) {
		return 0
	}
	return max(-maxZ, min(maxZ, z))
}

// populations holds one population per feature.
type populations struct {
	mu sync.Mutex
	m  map[string]*population
}

func (ps *populations) get(feature string) *population {
	ps.mu.Lock()
	defer ps.mu.Unlock()
	if ps.m == nil {
		ps.m = map[string]*population{}
	}
	p := ps.m[feature]
	if p == nil {
		p = newPopulation()
		ps.m[feature] = p
	}
	return p
}
