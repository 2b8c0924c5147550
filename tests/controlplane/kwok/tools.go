//go:build tools

// Pins the kwok controller command this module builds; never compiled itself.
package tools

import (
	_ "sigs.k8s.io/kwok/cmd/kwok"
)
