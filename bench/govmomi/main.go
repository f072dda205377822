// Command govmomi-bench is the govmomi (Go) peer of the workspace's benchmark
// suite (bench/run.sh). Its subcommands mirror our programs:
//
//	govmomi-bench inventory --url URL [--full] [--page-size N]
//	    the same lines as examples' vm-inventory, through govmomi's view manager,
//	    RetrievePropertiesEx/ContinueRetrievePropertiesEx and mo.LoadObjectContent
//	govmomi-bench floor --url URL [--full] [--page-size N]
//	    logs in and creates the ContainerView with govmomi, then POSTs the same
//	    RetrievePropertiesEx envelopes itself and only reads and counts the bytes
//	govmomi-bench decode --file RESPONSE.xml [--rounds N]
//	    decodes a captured RetrievePropertiesEx response as govmomi's client does
//
// The URL carries the credentials (https://user:pass@host/sdk); TLS certificates
// are not verified (like --insecure). A summary goes to stderr.
//
// Build in GOPATH mode against the Debian govmomi package (bench/govmomi/build.sh).
package main

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"sort"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/vmware/govmomi"
	"github.com/vmware/govmomi/view"
	"github.com/vmware/govmomi/vim25/methods"
	"github.com/vmware/govmomi/vim25/mo"
	"github.com/vmware/govmomi/vim25/soap"
	"github.com/vmware/govmomi/vim25/types"
	"github.com/vmware/govmomi/vim25/xml"
)

var fourPaths = []string{"name", "runtime.powerState", "summary.config.numCpu", "config.extraConfig"}
var fullPaths = []string{"config", "summary", "runtime"}

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: govmomi-bench inventory|floor|decode [flags]")
		os.Exit(2)
	}
	var err error
	switch os.Args[1] {
	case "inventory":
		err = inventory(os.Args[2:])
	case "floor":
		err = floor(os.Args[2:])
	case "decode":
		err = decode(os.Args[2:])
	default:
		err = fmt.Errorf("unknown subcommand %q", os.Args[1])
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "govmomi-bench %s: %v\n", os.Args[1], err)
		os.Exit(1)
	}
}

type connFlags struct {
	url      string
	full     bool
	pageSize int
	save     string
}

func parseConn(name string, args []string) (*connFlags, error) {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	c := &connFlags{}
	fs.StringVar(&c.url, "url", "", "vSphere URL with credentials")
	fs.BoolVar(&c.full, "full", false, "retrieve config, summary and runtime")
	fs.IntVar(&c.pageSize, "page-size", 1000, "objects per page (maxObjects)")
	fs.Bool("insecure", true, "accepted for symmetry; certificates are never verified")
	fs.StringVar(&c.save, "save", "", "floor: write the first response to this file")
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	if c.url == "" {
		return nil, errors.New("--url is required")
	}
	return c, nil
}

// countingBody counts the bytes read from a response body.
type countingBody struct {
	io.ReadCloser
	n *int64
}

func (b countingBody) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	atomic.AddInt64(b.n, int64(n))
	return n, err
}

// countingTransport wraps an http.RoundTripper and counts response body bytes.
type countingTransport struct {
	inner http.RoundTripper
	n     int64
}

func (t *countingTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	res, err := t.inner.RoundTrip(r)
	if err == nil && res.Body != nil {
		res.Body = countingBody{res.Body, &t.n}
	}
	return res, err
}

// login connects (TLS unverified) and logs in with the URL's credentials.
func login(ctx context.Context, raw string) (*govmomi.Client, error) {
	u, err := soap.ParseURL(raw)
	if err != nil {
		return nil, err
	}
	return govmomi.NewClient(ctx, u, true)
}

func containerView(ctx context.Context, c *govmomi.Client) (*view.ContainerView, error) {
	m := view.NewManager(c.Client)
	return m.CreateContainerView(ctx, c.ServiceContent.RootFolder, []string{"VirtualMachine"}, true)
}

type vmLine struct{ name, text string }

func sortAndPrint(lines []vmLine) {
	sort.Slice(lines, func(i, j int) bool {
		if lines[i].name != lines[j].name {
			return lines[i].name < lines[j].name
		}
		return lines[i].text < lines[j].text
	})
	var b strings.Builder
	b.Grow(len(lines) * 48)
	for _, l := range lines {
		b.WriteString(l.text)
		b.WriteByte('\n')
	}
	os.Stdout.WriteString(b.String())
}

func lineOf(vm *mo.VirtualMachine, full bool) vmLine {
	var name, power, cpus string
	extra := 0
	if full {
		if vm.Config != nil {
			name = vm.Config.Name
		} else if vm.Summary.Config.Name != "" {
			name = vm.Summary.Config.Name
		}
	} else {
		name = vm.Name
	}
	power = string(vm.Runtime.PowerState)
	if vm.Summary.Config.NumCpu != 0 {
		cpus = strconv.Itoa(int(vm.Summary.Config.NumCpu))
	}
	if vm.Config != nil {
		extra = len(vm.Config.ExtraConfig)
	}
	return vmLine{name, fmt.Sprintf("%s\t%s\t%s\t%d", name, power, cpus, extra)}
}

func filterSpec(v *view.ContainerView, paths []string) types.PropertyFilterSpec {
	return types.PropertyFilterSpec{
		PropSet: []types.PropertySpec{{Type: "VirtualMachine", PathSet: paths}},
		ObjectSet: []types.ObjectSpec{{
			Obj:  v.Reference(),
			Skip: types.NewBool(true),
			SelectSet: []types.BaseSelectionSpec{&types.TraversalSpec{
				SelectionSpec: types.SelectionSpec{Name: "view"},
				Type:          "ContainerView",
				Path:          "view",
				Skip:          types.NewBool(false),
			}},
		}},
	}
}

func inventory(args []string) error {
	cf, err := parseConn("inventory", args)
	if err != nil {
		return err
	}
	started := time.Now()
	ctx := context.Background()
	c, err := login(ctx, cf.url)
	if err != nil {
		return err
	}
	counter := &countingTransport{inner: c.Client.Client.Client.Transport}
	if counter.inner == nil {
		counter.inner = http.DefaultTransport
	}
	c.Client.Client.Client.Transport = counter
	v, err := containerView(ctx, c)
	if err != nil {
		return err
	}
	paths := fourPaths
	if cf.full {
		paths = fullPaths
	}
	pc := c.PropertyCollector().Reference()
	var lines []vmLine
	pages := 0
	res, err := methods.RetrievePropertiesEx(ctx, c.Client, &types.RetrievePropertiesEx{
		This:    pc,
		SpecSet: []types.PropertyFilterSpec{filterSpec(v, paths)},
		Options: types.RetrieveOptions{MaxObjects: int32(cf.pageSize)},
	})
	for err == nil && res.Returnval != nil {
		pages++
		var vms []mo.VirtualMachine
		if err = mo.LoadObjectContent(res.Returnval.Objects, &vms); err != nil {
			break
		}
		for i := range vms {
			lines = append(lines, lineOf(&vms[i], cf.full))
		}
		if res.Returnval.Token == "" {
			break
		}
		var next *types.ContinueRetrievePropertiesExResponse
		next, err = methods.ContinueRetrievePropertiesEx(ctx, c.Client, &types.ContinueRetrievePropertiesEx{
			This: pc, Token: res.Returnval.Token,
		})
		if err == nil {
			res = &types.RetrievePropertiesExResponse{Returnval: &next.Returnval}
		}
	}
	_ = v.Destroy(ctx)
	if err != nil {
		return err
	}
	sortAndPrint(lines)
	fmt.Fprintf(os.Stderr, "govmomi-bench inventory: %d VMs, %d pages, %d bytes received, %.2f s\n",
		len(lines), pages, atomic.LoadInt64(&counter.n), time.Since(started).Seconds())
	_ = c.Logout(ctx)
	return nil
}

// --- floor: the client that only reads the bytes ----------------------------

func esc(s string) string {
	var b bytes.Buffer
	_ = xml.EscapeText(&b, []byte(s))
	return b.String()
}

const envelopeHead = `<?xml version="1.0" encoding="UTF-8"?>` +
	`<soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/" ` +
	`xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"><soapenv:Body>`
const envelopeTail = `</soapenv:Body></soapenv:Envelope>`

func retrieveEnvelope(pc, viewRef types.ManagedObjectReference, paths []string, pageSize int) string {
	var b strings.Builder
	b.WriteString(envelopeHead)
	b.WriteString(`<RetrievePropertiesEx xmlns="urn:vim25">`)
	fmt.Fprintf(&b, `<_this type="%s">%s</_this>`, esc(pc.Type), esc(pc.Value))
	b.WriteString(`<specSet><propSet><type>VirtualMachine</type>`)
	for _, p := range paths {
		fmt.Fprintf(&b, `<pathSet>%s</pathSet>`, esc(p))
	}
	b.WriteString(`</propSet><objectSet>`)
	fmt.Fprintf(&b, `<obj type="%s">%s</obj>`, esc(viewRef.Type), esc(viewRef.Value))
	b.WriteString(`<skip>true</skip><selectSet xsi:type="TraversalSpec"><name>view</name>` +
		`<type>ContainerView</type><path>view</path><skip>false</skip></selectSet>` +
		`</objectSet></specSet>`)
	fmt.Fprintf(&b, `<options><maxObjects>%d</maxObjects></options>`, pageSize)
	b.WriteString(`</RetrievePropertiesEx>`)
	b.WriteString(envelopeTail)
	return b.String()
}

func continueEnvelope(pc types.ManagedObjectReference, token string) string {
	return envelopeHead + `<ContinueRetrievePropertiesEx xmlns="urn:vim25">` +
		fmt.Sprintf(`<_this type="%s">%s</_this><token>%s</token>`, esc(pc.Type), esc(pc.Value), esc(token)) +
		`</ContinueRetrievePropertiesEx>` + envelopeTail
}

// post sends one envelope and reads the response to its end in fixed-size
// chunks, counting bytes. Besides counting it only looks for a <token> element
// (the server's continuation), which RetrieveResult carries before its objects.
func post(hc *http.Client, endpoint, action, body string, save io.Writer) (int64, string, error) {
	req, err := http.NewRequest("POST", endpoint, strings.NewReader(body))
	if err != nil {
		return 0, "", err
	}
	req.Header.Set("Content-Type", `text/xml; charset="utf-8"`)
	req.Header.Set("SOAPAction", action)
	res, err := hc.Do(req)
	if err != nil {
		return 0, "", err
	}
	defer res.Body.Close()
	buf := make([]byte, 64*1024)
	var n int64
	var window []byte // unsearched tail carried across chunks, while looking for the token
	token, searching := "", true
	for {
		k, rerr := res.Body.Read(buf)
		n += int64(k)
		if save != nil && k > 0 {
			if _, err := save.Write(buf[:k]); err != nil {
				return n, "", err
			}
		}
		if searching && k > 0 {
			window = append(window, buf[:k]...)
			if i := bytes.Index(window, []byte("<objects")); i >= 0 {
				window = window[:i] // the token comes before the objects
				searching = false
			}
			if i := bytes.Index(window, []byte("<token>")); i >= 0 {
				if j := bytes.Index(window[i:], []byte("</token>")); j >= 0 {
					token = string(window[i+len("<token>") : i+j])
					searching = false
				}
			}
			if !searching {
				window = nil
			} else if len(window) > 4096 {
				window = append(window[:0], window[len(window)-256:]...)
			}
		}
		if rerr == io.EOF {
			break
		}
		if rerr != nil {
			return n, "", rerr
		}
	}
	if res.StatusCode != http.StatusOK {
		return n, "", fmt.Errorf("HTTP %s", res.Status)
	}
	return n, token, nil
}

func floor(args []string) error {
	cf, err := parseConn("floor", args)
	if err != nil {
		return err
	}
	started := time.Now()
	ctx := context.Background()
	c, err := login(ctx, cf.url)
	if err != nil {
		return err
	}
	v, err := containerView(ctx, c)
	if err != nil {
		return err
	}
	paths := fourPaths
	if cf.full {
		paths = fullPaths
	}
	pc := c.PropertyCollector().Reference()
	sc := c.Client.Client
	endpoint := sc.URL()
	plain := *endpoint
	plain.User = nil
	action := fmt.Sprintf("%s/%s", sc.Namespace, sc.Version)
	// The soap client's http.Client holds the session cookie in its jar and the
	// unverified-TLS transport.
	hc := &sc.Client

	var save io.Writer
	if cf.save != "" {
		f, err := os.Create(cf.save)
		if err != nil {
			return err
		}
		defer f.Close()
		save = f
	}
	var total int64
	pages := 0
	n, token, err := post(hc, plain.String(), action, retrieveEnvelope(pc, v.Reference(), paths, cf.pageSize), save)
	for {
		if err != nil {
			break
		}
		total += n
		pages++
		if token == "" {
			break
		}
		n, token, err = post(hc, plain.String(), action, continueEnvelope(pc, token), nil)
	}
	_ = v.Destroy(ctx)
	if err != nil {
		return err
	}
	fmt.Fprintf(os.Stderr, "govmomi-bench floor: %d pages, %d bytes received, %.2f s\n",
		pages, total, time.Since(started).Seconds())
	fmt.Printf("%d\n", total)
	_ = c.Logout(ctx)
	return nil
}

// --- decode: a captured response, as govmomi's soap client decodes it --------

func decodeOnce(data []byte, toMo bool) (int, error) {
	var body methods.RetrievePropertiesExBody
	env := soap.Envelope{Body: &body}
	dec := xml.NewDecoder(bytes.NewReader(data))
	dec.TypeFunc = types.TypeFunc()
	if err := dec.Decode(&env); err != nil {
		return 0, err
	}
	if body.Fault_ != nil {
		return 0, errors.New("response is a fault")
	}
	if body.Res == nil || body.Res.Returnval == nil {
		return 0, errors.New("no RetrievePropertiesExResponse returnval")
	}
	objs := body.Res.Returnval.Objects
	if !toMo {
		return len(objs), nil
	}
	var vms []mo.VirtualMachine
	if err := mo.LoadObjectContent(objs, &vms); err != nil {
		return 0, err
	}
	return len(vms), nil
}

func decode(args []string) error {
	fs := flag.NewFlagSet("decode", flag.ContinueOnError)
	file := fs.String("file", "", "captured RetrievePropertiesEx response")
	rounds := fs.Int("rounds", 5, "timed decodes")
	if err := fs.Parse(args); err != nil {
		return err
	}
	data, err := os.ReadFile(*file)
	if err != nil {
		return err
	}
	for _, mode := range []struct {
		label string
		toMo  bool
	}{{"typed ObjectContent", false}, {"typed mo.VirtualMachine", true}} {
		if _, err := decodeOnce(data, mode.toMo); err != nil { // warm up
			return err
		}
		t0 := time.Now()
		count := 0
		for i := 0; i < *rounds; i++ {
			if count, err = decodeOnce(data, mode.toMo); err != nil {
				return err
			}
		}
		secs := time.Since(t0).Seconds() / float64(*rounds)
		fmt.Printf("%s\t%.1f MB/s\t%.1f ms\t%d objects\n", mode.label, float64(len(data))/1e6/secs, secs*1e3, count)
	}
	return nil
}
