// Command vcsim-launcher runs govmomi's vSphere simulator for the Rust
// integration tests of this workspace.
//
// It binds to a loopback address only, prints a small line protocol on
// standard output (URL, USERNAME, PASSWORD, optional SHA1/SHA256 thumbprints,
// READY) and serves until it receives SIGTERM/SIGINT or its standard input
// reaches end-of-file, which happens when the parent process goes away.
//
// With -churn RATE (changes per second, default 0 = off) it keeps changing
// summary.quickStats.overallCpuUsage of the virtual machines once READY is
// printed: round robin over the VMs in the (byte) order of their moref values,
// RATE changes per second in total, each through simulator.Map.Update under
// the VM's lock, so property collectors waiting in WaitForUpdatesEx report
// them. The value written is the Unix time in milliseconds modulo 1e9 (as
// int32), which lets a watcher tell how old a change is. It logs the number of
// changes made so far to standard error, at most once a second. vcsim's wait
// loop re-collects the whole filter for every change it delivers (and logs a
// line per change), so a watcher of all VMs keeps up with 1000 changes/s only
// for a few hundred VMs.
//
// Build it in GOPATH mode against the Debian govmomi package:
//
//	GOPATH=/usr/share/gocode GO111MODULE=off go build
package main

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"flag"
	"fmt"
	"io"
	"io/ioutil"
	"math/big"
	"net"
	"net/url"
	"os"
	"os/signal"
	"sort"
	"strings"
	"syscall"
	"time"

	"github.com/vmware/govmomi/simulator"
	"github.com/vmware/govmomi/vim25/types"
)

// unset marks an inventory flag the user did not give: the model's default applies.
const unset = -1

type sizes struct {
	dc, cluster, host, standalone, pool, vm, pg, ds int
}

func main() {
	os.Exit(run())
}

func usageError(format string, args ...interface{}) int {
	fmt.Fprintf(os.Stderr, "vcsim-launcher: "+format+"\n", args...)
	return 2
}

func run() int {
	fs := flag.NewFlagSet("vcsim-launcher", flag.ContinueOnError)
	listen := fs.String("listen", "127.0.0.1:0", "address to listen on (loopback only)")
	modelName := fs.String("model", "vpx", "inventory model: vpx (vCenter) or esx (standalone host)")
	var sz sizes
	fs.IntVar(&sz.dc, "dc", unset, "number of datacenters (vpx)")
	fs.IntVar(&sz.cluster, "cluster", unset, "number of clusters per datacenter (vpx)")
	fs.IntVar(&sz.host, "host", unset, "number of hosts per cluster (vpx)")
	fs.IntVar(&sz.standalone, "standalone-host", unset, "number of standalone hosts per datacenter (vpx)")
	fs.IntVar(&sz.pool, "pool", unset, "number of resource pools per cluster (vpx)")
	fs.IntVar(&sz.vm, "vm", unset, "number of virtual machines per resource pool or host")
	fs.IntVar(&sz.pg, "pg", unset, "number of distributed port groups per datacenter (vpx)")
	fs.IntVar(&sz.ds, "ds", unset, "number of datastores")
	useTLS := fs.Bool("tls", true, "serve HTTPS with a freshly generated self-signed certificate")
	username := fs.String("username", "user", "user name the simulator accepts")
	password := fs.String("password", "pass", "password the simulator accepts")
	watchStdin := fs.Bool("watch-stdin", true, "exit when standard input reaches end-of-file")
	churn := fs.Int("churn", 0, "after READY, change summary.quickStats.overallCpuUsage of the VMs this many times per second in total, round robin (0 = off)")

	if err := fs.Parse(os.Args[1:]); err != nil {
		return 2
	}
	if fs.NArg() != 0 {
		return usageError("unexpected arguments: %v", fs.Args())
	}

	host, err := checkLoopback(*listen)
	if err != nil {
		return usageError("%v", err)
	}

	model, err := buildModel(*modelName, sz)
	if err != nil {
		return usageError("%v", err)
	}
	if *username == "" {
		return usageError("-username must not be empty")
	}
	if *churn < 0 {
		return usageError("-churn must not be negative")
	}

	if err := model.Create(); err != nil {
		fmt.Fprintf(os.Stderr, "vcsim-launcher: creating the inventory: %v\n", err)
		model.Remove()
		return 1
	}

	model.Service.Listen = &url.URL{
		Host: net.JoinHostPort(host, portOf(*listen)),
		User: url.UserPassword(*username, *password),
	}

	var cert []byte
	if *useTLS {
		tlsCert, der, err := selfSignedCertificate()
		if err != nil {
			fmt.Fprintf(os.Stderr, "vcsim-launcher: generating a certificate: %v\n", err)
			model.Remove()
			return 1
		}
		cert = der
		model.Service.TLS = &tls.Config{Certificates: []tls.Certificate{tlsCert}}
	}

	server := model.Service.NewServer()

	scheme := "http"
	if *useTLS {
		scheme = "https"
	}
	addr := server.Listener.Addr().(*net.TCPAddr)
	out := []string{
		fmt.Sprintf("URL %s://%s/sdk", scheme, net.JoinHostPort(addr.IP.String(), fmt.Sprint(addr.Port))),
		"USERNAME " + *username,
		"PASSWORD " + *password,
	}
	if cert != nil {
		s1 := sha1.Sum(cert)
		s256 := sha256.Sum256(cert)
		out = append(out, "SHA1 "+thumbprint(s1[:]), "SHA256 "+thumbprint(s256[:]))
	}
	out = append(out, "READY")
	// os.Stdout is unbuffered: one write per call reaches the reader at once.
	if _, err := os.Stdout.WriteString(strings.Join(out, "\n") + "\n"); err != nil {
		fmt.Fprintf(os.Stderr, "vcsim-launcher: writing to stdout: %v\n", err)
		shutdown(server, model)
		return 1
	}

	churnDone := make(chan struct{})
	churnStopped := make(chan struct{})
	if *churn > 0 {
		go func() {
			defer close(churnStopped)
			churnQuickStats(*churn, churnDone)
		}()
	} else {
		close(churnStopped)
	}

	stop := make(chan string, 2)
	signals := make(chan os.Signal, 1)
	signal.Notify(signals, syscall.SIGTERM, syscall.SIGINT)
	go func() {
		s := <-signals
		stop <- "received " + s.String()
	}()
	if *watchStdin {
		go func() {
			_, _ = io.Copy(ioutil.Discard, os.Stdin)
			stop <- "standard input closed"
		}()
	}

	reason := <-stop
	fmt.Fprintf(os.Stderr, "vcsim-launcher: %s, shutting down\n", reason)
	close(churnDone)
	<-churnStopped
	shutdown(server, model)
	return 0
}

// shutdown closes the server and removes the model's temporary directories,
// giving up on a graceful close after a few seconds.
func shutdown(server *simulator.Server, model *simulator.Model) {
	done := make(chan struct{})
	go func() {
		server.Close()
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		fmt.Fprintln(os.Stderr, "vcsim-launcher: server did not close within 5s")
	}
	model.Remove()
}

// churnQuickStats changes summary.quickStats.overallCpuUsage of every
// virtual machine, round robin in moref-value order, rate times per second in
// total until done is closed. It keeps a running target of rate * elapsed
// time and catches up with it in a loop, sleeping 2 ms between checks.
func churnQuickStats(rate int, done <-chan struct{}) {
	const prop = "summary.quickStats.overallCpuUsage"
	vms := simulator.Map.All("VirtualMachine")
	if len(vms) == 0 {
		fmt.Fprintln(os.Stderr, "vcsim-launcher: -churn: the inventory has no virtual machines")
		return
	}
	sort.Slice(vms, func(i, j int) bool {
		return vms[i].Reference().Value < vms[j].Reference().Value
	})
	fmt.Fprintf(os.Stderr, "vcsim-launcher: churn: changing %s of %d VMs, %d changes/s\n", prop, len(vms), rate)

	start := time.Now()
	lastLog := start
	var changes int64
	pause := time.NewTimer(2 * time.Millisecond)
	defer pause.Stop()
	for {
		select {
		case <-done:
			fmt.Fprintf(os.Stderr, "vcsim-launcher: churn: stopped after %d changes\n", changes)
			return
		case <-pause.C:
		}
		now := time.Now()
		target := int64(float64(rate) * now.Sub(start).Seconds())
		for ; changes < target; changes++ {
			vm := vms[changes%int64(len(vms))]
			value := int32(time.Now().UnixNano() / int64(time.Millisecond) % 1000000000)
			simulator.Map.WithLock(vm, func() {
				simulator.Map.Update(vm, []types.PropertyChange{{
					Name: prop, Op: types.PropertyChangeOpAssign, Val: value,
				}})
			})
		}
		if now.Sub(lastLog) >= time.Second {
			lastLog = now
			fmt.Fprintf(os.Stderr, "vcsim-launcher: churn: %d changes in %.1f s\n", changes, now.Sub(start).Seconds())
		}
		pause.Reset(2 * time.Millisecond)
	}
}

// checkLoopback returns the host part of addr when it names a loopback
// address ("localhost" becomes 127.0.0.1), or an error otherwise.
func checkLoopback(addr string) (string, error) {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return "", fmt.Errorf("bad -listen %q: %v", addr, err)
	}
	if _, err := net.LookupPort("tcp", port); err != nil {
		return "", fmt.Errorf("bad -listen port %q: %v", port, err)
	}
	if strings.EqualFold(host, "localhost") {
		return "127.0.0.1", nil
	}
	ip := net.ParseIP(host)
	if ip == nil || !ip.IsLoopback() {
		return "", fmt.Errorf("refusing -listen %q: only loopback addresses (127.0.0.0/8, localhost, ::1) are allowed", addr)
	}
	return ip.String(), nil
}

func portOf(addr string) string {
	_, port, _ := net.SplitHostPort(addr)
	return port
}

// buildModel returns the chosen model with the given sizes applied.
func buildModel(name string, sz sizes) (*simulator.Model, error) {
	var m *simulator.Model
	switch name {
	case "vpx":
		m = simulator.VPX()
	case "esx":
		m = simulator.ESX()
		vpxOnly := map[string]int{
			"-dc": sz.dc, "-cluster": sz.cluster, "-host": sz.host,
			"-standalone-host": sz.standalone, "-pool": sz.pool, "-pg": sz.pg,
		}
		for flagName, v := range vpxOnly {
			if v > 0 {
				return nil, fmt.Errorf("%s is not supported by the esx model", flagName)
			}
		}
	default:
		return nil, fmt.Errorf("unknown -model %q (want vpx or esx)", name)
	}

	apply := func(flagName string, v int, dst *int) error {
		switch {
		case v == unset:
		case v < 0:
			return fmt.Errorf("%s must not be negative", flagName)
		default:
			*dst = v
		}
		return nil
	}
	if name == "vpx" {
		for _, f := range []struct {
			name string
			v    int
			dst  *int
		}{
			{"-dc", sz.dc, &m.Datacenter},
			{"-cluster", sz.cluster, &m.Cluster},
			{"-host", sz.host, &m.ClusterHost},
			{"-standalone-host", sz.standalone, &m.Host},
			{"-pool", sz.pool, &m.Pool},
			{"-pg", sz.pg, &m.Portgroup},
		} {
			if err := apply(f.name, f.v, f.dst); err != nil {
				return nil, err
			}
		}
	}
	if err := apply("-vm", sz.vm, &m.Machine); err != nil {
		return nil, err
	}
	if err := apply("-ds", sz.ds, &m.Datastore); err != nil {
		return nil, err
	}
	return m, nil
}

// selfSignedCertificate makes an ECDSA P-256 certificate valid for
// 127.0.0.1, ::1 and localhost, returning it and its DER encoding.
func selfSignedCertificate() (tls.Certificate, []byte, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return tls.Certificate{}, nil, err
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 62))
	if err != nil {
		return tls.Certificate{}, nil, err
	}
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: "127.0.0.1", Organization: []string{"vcsim-launcher"}},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.Add(10 * 365 * 24 * time.Hour),
		KeyUsage:              x509.KeyUsageDigitalSignature,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		IPAddresses:           []net.IP{net.IPv4(127, 0, 0, 1), net.IPv6loopback},
		DNSNames:              []string{"localhost"},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return tls.Certificate{}, nil, err
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}, der, nil
}

// thumbprint formats a digest the way govc does: uppercase hex bytes joined by colons.
func thumbprint(sum []byte) string {
	parts := make([]string, len(sum))
	for i, b := range sum {
		parts[i] = strings.ToUpper(hex.EncodeToString([]byte{b}))
	}
	return strings.Join(parts, ":")
}
