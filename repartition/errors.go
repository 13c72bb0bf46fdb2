package repartition

import "errors"

// ErrFenceTimeout is returned by Run when the instances did not stop their
// intake and drain within Config.FenceTimeout; the fence is lifted and the
// old partitioning serves again.
var ErrFenceTimeout = errors.New("the fence did not settle in time")
