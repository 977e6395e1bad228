package auth

import (
	"context"
	"crypto"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/ironclad-auth/ironclad/store"
)

// keySealInfo labels the key that seals private signing keys in the
// database (see seal.go): its own derivation from JWT_SECRET.
const keySealInfo = "ironclad signing key v1"

// ErrKeySecret means a stored private key does not open with JWT_SECRET:
// the secret is not the one the key ring was made under.
var ErrKeySecret = errors.New("JWT_SECRET cannot open the stored signing key: it is not the secret the key ring was created with (restore that JWT_SECRET, or delete the rows of signing_keys to start a new ring)")

// KeyRing keeps a Tokens' asymmetric keys in step with the signing_keys
// table. Each replica holds one; Reload reads the table again (after a
// rotation or revocation notice, and periodically).
type KeyRing struct {
	st     *store.Store
	tokens *Tokens
	seal   *sealer
	hmac   *keySet // the HS256 ring, for tokens issued before the switch

	mu       sync.Mutex
	opened   map[string]crypto.Signer // kid → private key, opened once
	observer func(error)              // SetReloadObserver

	unknownMu   sync.Mutex // reloadForUnknownKID
	lastUnknown time.Time

	rotateAlg                string // AutoRotate
	rotateEvery, rotateDelay time.Duration
}

// OpenKeyRing installs the database key ring into tokens. With no key in
// the table, it makes one of alg; when several replicas start at once on
// an empty database, exactly one key results (store.InsertFirstSigningKey).
func OpenKeyRing(ctx context.Context, st *store.Store, tokens *Tokens, secret []byte, alg string) (*KeyRing, error) {
	if !Asymmetric(alg) {
		return nil, fmt.Errorf("key ring: %q is not EdDSA, ES256 or RS256", alg)
	}
	seal, err := newSealerFor(secret, keySealInfo)
	if err != nil {
		return nil, fmt.Errorf("key ring: %w", err)
	}
	r := &KeyRing{st: st, tokens: tokens, seal: seal, hmac: tokens.keys.Load(), opened: map[string]crypto.Signer{}}
	st.OnKeysChanged(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		r.Reload(ctx)
	})
	rows, err := st.SigningKeys(ctx)
	if err != nil {
		return nil, fmt.Errorf("key ring: %w", err)
	}
	if !hasSigner(rows) {
		k, err := r.newKey(alg, tokens.now())
		if err != nil {
			return nil, err
		}
		// A lost race is fine: the other replica's key is the one.
		if _, err := st.InsertFirstSigningKey(ctx, k); err != nil {
			return nil, fmt.Errorf("key ring: %w", err)
		}
	}
	if err := r.Reload(ctx); err != nil {
		return nil, err
	}
	reload := r.reloadForUnknownKID
	tokens.reloadUnknown.Store(&reload)
	return r, nil
}

func hasSigner(rows []store.SigningKey) bool {
	for _, k := range rows {
		if k.State == store.KeySigning {
			return true
		}
	}
	return false
}

// NewKey makes a key of alg with its private key sealed under JWT_SECRET,
// ready to store (State and times are the caller's).
func (r *KeyRing) newKey(alg string, now time.Time) (store.SigningKey, error) {
	priv, err := generateKey(alg)
	if err != nil {
		return store.SigningKey{}, fmt.Errorf("key ring: %w", err)
	}
	pkcs8, err := x509.MarshalPKCS8PrivateKey(priv)
	if err != nil {
		return store.SigningKey{}, fmt.Errorf("key ring: %w", err)
	}
	pub, err := x509.MarshalPKIXPublicKey(priv.Public())
	if err != nil {
		return store.SigningKey{}, fmt.Errorf("key ring: %w", err)
	}
	kid, err := randomString(12)
	if err != nil {
		return store.SigningKey{}, fmt.Errorf("key ring: %w", err)
	}
	return store.SigningKey{
		KID: kid, Alg: alg, Public: pub,
		// Bound to the kid: a sealed key cannot be moved to another row.
		Private:   r.seal.seal(pkcs8, []byte(kid)),
		CreatedAt: now,
	}, nil
}

// Reload reads the table and installs the ring it describes at the
// current time: the signing key (a next key whose activation time has come
// signs in place of the older one, on every replica alike, with no write),
// the next and verify-only keys, and, for one access-token lifetime after
// the switch from HS256, the HMAC secret. On error the ring in use stays.
func (r *KeyRing) Reload(ctx context.Context) error {
	// Read under the lock: two reloads never install their reads out of
	// order (an older read after a newer one would drop a new key).
	r.mu.Lock()
	defer r.mu.Unlock()
	rows, err := r.st.SigningKeys(ctx)
	if err != nil {
		return fmt.Errorf("key ring: %w", err)
	}
	ks, err := r.build(rows, r.tokens.now())
	if err == nil {
		r.tokens.setKeys(ks)
	}
	if r.observer != nil {
		r.observer(err)
	}
	return err
}

// minUnknownReload spaces the reloads caused by unknown kids.
const minUnknownReload = 250 * time.Millisecond

// reloadForUnknownKID rereads the ring for a token naming a kid this
// replica does not know, at most once per minUnknownReload across all
// requests (the others wait for that reload and use its result). It reports
// whether a ring read after the token arrived is installed.
func (r *KeyRing) reloadForUnknownKID() bool {
	asked := time.Now()
	r.unknownMu.Lock()
	defer r.unknownMu.Unlock()
	if !r.lastUnknown.Before(asked) {
		return true // a reload began after this token arrived: its ring will do
	}
	// Spaced out, not refused: every token naming an unknown kid is
	// checked against a ring read after it arrived. Forged kids wait their
	// turn here (bounded by REQUEST_TIMEOUT); known kids never come here.
	if wait := minUnknownReload - time.Since(r.lastUnknown); wait > 0 {
		time.Sleep(wait)
	}
	r.lastUnknown = time.Now()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	return r.Reload(ctx) == nil
}

// SetReloadObserver sets fn to be called after every reload, with its
// error; tests wait on it. Call it before the ring is shared.
func (r *KeyRing) SetReloadObserver(fn func(error)) {
	r.mu.Lock()
	r.observer = fn
	r.mu.Unlock()
}

// Run reloads the ring every interval until ctx ends: the fallback when a
// notification is lost, and what retires verify-only keys on time. With
// AutoRotate set, it also rotates when the signing key is old enough.
func (r *KeyRing) Run(ctx context.Context, interval time.Duration) {
	tick := time.NewTicker(interval)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
			if r.rotateEvery > 0 {
				r.RotateIfDue(ctx) // an error leaves the key as it is; the next tick retries
			}
			r.Reload(ctx) // on error the ring in use stays; the next tick retries
		}
	}
}

// AutoRotate makes Run rotate to a new key of alg, published delay before
// it signs, every every (JWT_KEY_ROTATE_EVERY); 0 turns it off. Call it
// before Run.
func (r *KeyRing) AutoRotate(alg string, every, delay time.Duration) {
	r.rotateAlg, r.rotateEvery, r.rotateDelay = alg, every, delay
}

// RotateIfDue schedules a new key when no key started or was scheduled to
// start signing within the last rotateEvery. It reports whether this
// replica added one: of replicas calling it together, one does.
func (r *KeyRing) RotateIfDue(ctx context.Context) (bool, error) {
	now := r.tokens.now()
	k, err := r.newKey(r.rotateAlg, now)
	if err != nil {
		return false, err
	}
	// The new key signs at now+delay: due when the latest activation is at
	// least every-delay old, so that keys sign for every on average.
	added, err := r.st.ScheduleSigningKey(ctx, k, now.Add(r.rotateDelay), now.Add(r.rotateDelay-r.rotateEvery))
	if err != nil {
		return false, fmt.Errorf("key ring: scheduled rotation: %w", err)
	}
	return added, nil
}

// Rotate adds a key of alg. It is published at once and starts signing
// after publishDelay (so verifiers caching the JWKS know it first), or at
// once with activateNow; the signing key then verifies only, until the
// tokens it signed expired. It returns the new kid.
func (r *KeyRing) Rotate(ctx context.Context, alg string, publishDelay time.Duration, activateNow bool) (string, error) {
	now := r.tokens.now()
	k, err := r.newKey(alg, now)
	if err != nil {
		return "", err
	}
	at := now.Add(publishDelay)
	if activateNow {
		at = now
	}
	if err := r.st.AddSigningKey(ctx, k, at, activateNow); err != nil {
		return "", fmt.Errorf("key ring: rotate: %w", err)
	}
	return k.KID, r.Reload(ctx)
}

// ErrRevokeSigning refuses to revoke the key that signs: rotate first.
var ErrRevokeSigning = errors.New("it is the signing key (or the only key that could sign): run `ironclad keys rotate --activate-now` first")

// Revoke stops key kid from verifying on every replica at once.
func (r *KeyRing) Revoke(ctx context.Context, kid string) error {
	rows, err := r.st.SigningKeys(ctx)
	if err != nil {
		return fmt.Errorf("key ring: %w", err)
	}
	now := r.tokens.now()
	rest := rows[:0:0]
	found := false
	for _, k := range rows {
		if k.KID == kid {
			found = true
			continue
		}
		rest = append(rest, k)
	}
	if !found {
		return fmt.Errorf("key ring: revoke %s: %w", kid, store.ErrNotFound)
	}
	r.mu.Lock()
	after, err := r.build(rest, now)
	r.mu.Unlock()
	if err != nil || after.signer.kid != r.signerAt(rows, now) {
		return fmt.Errorf("key ring: revoke %s: %w", kid, ErrRevokeSigning)
	}
	if err := r.st.RevokeSigningKey(ctx, kid, now); err != nil {
		return fmt.Errorf("key ring: revoke %s: %w", kid, err)
	}
	return r.Reload(ctx)
}

// signerAt is the kid that signs at now according to rows.
func (r *KeyRing) signerAt(rows []store.SigningKey, now time.Time) string {
	r.mu.Lock()
	defer r.mu.Unlock()
	ks, err := r.build(rows, now)
	if err != nil {
		return ""
	}
	return ks.signer.kid
}

// Keys returns the rows of the ring, for `ironclad keys list`.
func (r *KeyRing) Keys(ctx context.Context) ([]store.SigningKey, error) {
	return r.st.SigningKeys(ctx)
}

// activation is when k started (or starts) signing.
func activation(k store.SigningKey) time.Time {
	if k.ActivatesAt != nil {
		return *k.ActivatesAt
	}
	return k.CreatedAt
}

func (r *KeyRing) build(rows []store.SigningKey, now time.Time) (*keySet, error) {
	grace := r.tokens.ttl + r.tokens.leeway
	signer := -1
	for i, k := range rows {
		due := k.State == store.KeySigning || (k.State == store.KeyNext && k.ActivatesAt != nil && !now.Before(*k.ActivatesAt))
		if due && (signer < 0 || activation(k).After(activation(rows[signer]))) {
			signer = i
		}
	}
	if signer < 0 {
		return nil, errors.New("key ring: no signing key in signing_keys")
	}
	ks := &keySet{byKID: map[string]verifyKey{}}
	var first time.Time
	for i, k := range rows {
		if first.IsZero() || k.CreatedAt.Before(first) {
			first = k.CreatedAt
		}
		var until time.Time
		switch {
		case k.State == store.KeyRevoked:
			continue
		case i == signer, k.State == store.KeyNext && activation(k).After(now):
		case k.State == store.KeyVerifyOnly && k.VerifyOnlyFrom != nil:
			until = k.VerifyOnlyFrom.Add(grace)
		default: // superseded by a later activation
			until = activation(rows[signer]).Add(grace)
		}
		if !until.IsZero() && !now.Before(until) {
			continue // its tokens have all expired: it leaves the JWKS
		}
		method, ok := methodOf(k.Alg)
		if !ok || !Asymmetric(k.Alg) {
			return nil, fmt.Errorf("key ring: key %s has unsupported alg %q", k.KID, k.Alg)
		}
		pub, err := x509.ParsePKIXPublicKey(k.Public)
		if err != nil {
			return nil, fmt.Errorf("key ring: key %s: %w", k.KID, err)
		}
		ks.add(k.KID, verifyKey{method: method, key: pub, until: until})
		ks.public = append(ks.public, PublicKey{KID: k.KID, Alg: k.Alg, Key: pub})
		if i == signer {
			priv, err := r.open(k)
			if err != nil {
				return nil, err
			}
			ks.signer = signKey{kid: k.KID, method: method, key: priv}
		}
	}
	// The earliest pending key takes over when its time comes.
	for _, k := range rows {
		if k.State != store.KeyNext || !activation(k).After(now) || (ks.next != nil && !activation(k).Before(ks.nextAt)) {
			continue
		}
		priv, err := r.open(k)
		if err != nil {
			return nil, err
		}
		method, _ := methodOf(k.Alg)
		ks.next, ks.nextAt = &signKey{kid: k.KID, method: method, key: priv}, activation(k)
	}
	// HS256 tokens issued before the first asymmetric key keep verifying
	// until they expire, at most one lifetime after the switch.
	if end := first.Add(grace); now.Before(end) && r.hmac != nil {
		vk := *r.hmac.legacy
		vk.until = end
		ks.legacy = &vk
		ks.add(r.hmac.signer.kid, vk)
	}
	return ks, nil
}

// open returns k's private key, unsealing it the first time.
func (r *KeyRing) open(k store.SigningKey) (crypto.Signer, error) {
	if p, ok := r.opened[k.KID]; ok {
		return p, nil
	}
	pkcs8, err := r.seal.open(k.Private, []byte(k.KID))
	if err != nil {
		return nil, fmt.Errorf("key ring: key %s: %w", k.KID, ErrKeySecret)
	}
	p, err := x509.ParsePKCS8PrivateKey(pkcs8)
	if err != nil {
		return nil, fmt.Errorf("key ring: key %s: %w", k.KID, err)
	}
	s, ok := p.(crypto.Signer)
	if !ok {
		return nil, fmt.Errorf("key ring: key %s: not a signing key", k.KID)
	}
	r.opened[k.KID] = s
	return s, nil
}

// UsePrivateKeyPEM makes tokens sign with the PKCS#8 private key in pemBytes
// (JWT_PRIVATE_KEY_FILE) and verify with its public key only; the database
// key ring is not used. The kid is derived from the public key, so every
// replica given the same file names it alike.
func UsePrivateKeyPEM(tokens *Tokens, pemBytes []byte) (alg string, err error) {
	block, _ := pem.Decode(pemBytes)
	if block == nil || block.Type != "PRIVATE KEY" {
		return "", errors.New("not a PEM \"PRIVATE KEY\" (PKCS#8) block")
	}
	p, err := x509.ParsePKCS8PrivateKey(block.Bytes)
	if err != nil {
		return "", fmt.Errorf("not a PKCS#8 private key: %w", err)
	}
	if alg, err = algOfKey(p); err != nil {
		return "", err
	}
	signer := p.(crypto.Signer)
	pubDER, err := x509.MarshalPKIXPublicKey(signer.Public())
	if err != nil {
		return "", err
	}
	sum := sha256.Sum256(pubDER)
	kid := base64.RawURLEncoding.EncodeToString(sum[:12])
	method, _ := methodOf(alg)
	tokens.setKeys(&keySet{
		signer: signKey{kid: kid, method: method, key: signer},
		byKID:  map[string]verifyKey{kid: {method: method, key: signer.Public()}},
		public: []PublicKey{{KID: kid, Alg: alg, Key: signer.Public()}},
	})
	return alg, nil
}
