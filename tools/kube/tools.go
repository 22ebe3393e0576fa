//go:build tools

// Package kube pins the Kubernetes programs the integration tests run: a real kube-apiserver
// (and kubectl) built from the k8s.io/kubernetes module, not a fake. Nothing imports this
// package; scripts/build-kube-binaries.sh builds the two commands named here with go.mod's
// versions. go.mod mirrors k8s.io/kubernetes' own `replace` lines: that module points its
// k8s.io/* staging modules at ./staging, which a module consumer does not have, so each one is
// pinned to the matching v0.X.Y release instead.
package kube

import (
	_ "k8s.io/kubernetes/cmd/kube-apiserver"
	_ "k8s.io/kubernetes/cmd/kubectl"
)
