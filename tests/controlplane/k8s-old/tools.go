//go:build tools

// Pins the older kube-apiserver this module builds; never compiled itself.
package tools

import (
	_ "k8s.io/kubernetes/cmd/kube-apiserver"
)
