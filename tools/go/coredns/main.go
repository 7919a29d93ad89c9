// Cluster DNS for the lab's real node: CoreDNS with only the plugins a Kubernetes cluster DNS uses (the
// kubeadm Corefile's set), so the build skips the cloud providers' SDKs the full plugin list pulls in.
package main

import (
	"log"

	"github.com/coredns/coredns/core/dnsserver"
	"github.com/coredns/coredns/coremain"

	_ "github.com/coredns/coredns/plugin/bind"
	_ "github.com/coredns/coredns/plugin/cache"
	_ "github.com/coredns/coredns/plugin/errors"
	_ "github.com/coredns/coredns/plugin/forward"
	_ "github.com/coredns/coredns/plugin/health"
	_ "github.com/coredns/coredns/plugin/kubernetes"
	_ "github.com/coredns/coredns/plugin/log"
	_ "github.com/coredns/coredns/plugin/loop"
	_ "github.com/coredns/coredns/plugin/ready"
	_ "github.com/coredns/coredns/plugin/reload"
	_ "github.com/coredns/coredns/plugin/template"
)

func main() {
	err := dnsserver.SetDirectives([]string{
		"reload", "bind", "ready", "health", "errors", "log", "cache", "template", "kubernetes", "loop", "forward",
	})
	if err != nil {
		log.Fatal(err)
	}
	coremain.Run()
}
