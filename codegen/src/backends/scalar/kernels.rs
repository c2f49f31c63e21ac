// Portable scalar kernels: the fallback on every target and the reference the
// SIMD kernels are property-tested against.
//
// This file is compiled twice: as a module of xcc-codegen (for tests) and
// verbatim inside every generated model (the emitter copies its items). It
// must therefore use only `core`, have no inner attributes or `//!` docs, and
// refer to nothing outside itself.
//
// Every kernel is `#[inline(always)]` and takes its geometry as a `&Window`
// (or plain sizes); generated code passes `const` values, so after inlining
// every loop bound, stride, pad and offset is a compile-time constant.

/// Geometry of a 2-D window op: input, output, kernel, strides, dilation, padding.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Window {
    /// Input height.
    pub h: usize,
    /// Input width.
    pub w: usize,
    /// Input channels.
    pub c: usize,
    /// Output height.
    pub oh: usize,
    /// Output width.
    pub ow: usize,
    /// Kernel height.
    pub kh: usize,
    /// Kernel width.
    pub kw: usize,
    /// Vertical stride.
    pub sh: usize,
    /// Horizontal stride.
    pub sw: usize,
    /// Vertical dilation.
    pub dh: usize,
    /// Horizontal dilation.
    pub dw: usize,
    /// Padding at the top (the bottom gets the rest).
    pub pt: usize,
    /// Padding at the left (the right gets the rest).
    pub pl: usize,
}

/// How a residual tensor enters the epilogue.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Residual {
    /// No residual.
    None,
    /// Added from a separate slice.
    Separate,
    /// The output slice already holds the residual: read, add, overwrite.
    InPlace,
}

/// What happens around a kernel's accumulation:
/// `y = relu?(acc(relu_in?(x)) + bias + residual)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Epilogue {
    /// Apply ReLU to every input value as it is loaded.
    pub relu_in: bool,
    /// Add a per-channel bias.
    pub bias: bool,
    /// Residual mode.
    pub residual: Residual,
    /// Apply ReLU to the result.
    pub relu: bool,
}

/// Where a SIMD kernel reads its residual: `res` when it is separate,
/// otherwise the output itself (in place; never read without a residual).
#[inline(always)]
pub fn residual_ptr(ep: &Epilogue, res: &[f32], y: *mut f32) -> *const f32 {
    if ep.residual == Residual::Separate {
        res.as_ptr()
    } else {
        y as *const f32
    }
}

#[inline(always)]
fn load(v: f32, relu_in: bool) -> f32 {
    if relu_in {
        v.max(0.0)
    } else {
        v
    }
}

/// Applies the epilogue to one output row `y` (accumulators in place).
#[inline(always)]
fn finish(ep: &Epilogue, y: &mut [f32], bias: &[f32], res: &[f32], res_off: usize) {
    let n = y.len();
    if ep.bias {
        for (v, b) in y.iter_mut().zip(&bias[..n]) {
            *v += *b;
        }
    }
    if ep.residual == Residual::Separate {
        for (v, r) in y.iter_mut().zip(&res[res_off..res_off + n]) {
            *v += *r;
        }
    }
    if ep.relu {
        for v in y.iter_mut() {
            *v = v.max(0.0);
        }
    }
}

/// Starts an output row: zero, or the residual when it is added in place.
#[inline(always)]
fn start(ep: &Epilogue, y: &mut [f32]) {
    if ep.residual != Residual::InPlace {
        y.fill(0.0);
    }
}

/// Input row index for output row `o` and tap `k`, or `None` in the padding.
#[inline(always)]
fn tap(o: usize, k: usize, stride: usize, dil: usize, pad: usize, size: usize) -> Option<usize> {
    let i = (o * stride + k * dil).wrapping_sub(pad);
    if i < size {
        Some(i)
    } else {
        None
    }
}

/// Dense 2-D convolution, NHWC, weights `[kh, kw, c, co]`.
#[inline(always)]
#[allow(clippy::too_many_arguments)]
pub fn conv2d(
    g: &Window,
    co: usize,
    ep: &Epilogue,
    x: &[f32],
    w: &[f32],
    bias: &[f32],
    res: &[f32],
    y: &mut [f32],
) {
    let (ci, kw_ci_co) = (g.c, g.kw * g.c * co);
    for oy in 0..g.oh {
        for ox in 0..g.ow {
            let o = (oy * g.ow + ox) * co;
            let acc = &mut y[o..o + co];
            start(ep, acc);
            for ky in 0..g.kh {
                let Some(iy) = tap(oy, ky, g.sh, g.dh, g.pt, g.h) else {
                    continue;
                };
                for kx in 0..g.kw {
                    let Some(ix) = tap(ox, kx, g.sw, g.dw, g.pl, g.w) else {
                        continue;
                    };
                    let xp = &x[(iy * g.w + ix) * ci..][..ci];
                    let wk = &w[ky * kw_ci_co + kx * ci * co..][..ci * co];
                    for (c, &xv) in xp.iter().enumerate() {
                        let a = load(xv, ep.relu_in);
                        for (acc_v, &wv) in acc.iter_mut().zip(&wk[c * co..(c + 1) * co]) {
                            *acc_v += a * wv;
                        }
                    }
                }
            }
            finish(ep, acc, bias, res, o);
        }
    }
}

/// Depthwise 2-D convolution of one output row `oy` into `out` (`ow * c * mult`
/// values, NHWC), weights `[kh, kw, c * mult]`; no epilogue.
#[inline(always)]
fn depthwise_row(
    g: &Window,
    mult: usize,
    relu_in: bool,
    x: &[f32],
    w: &[f32],
    oy: usize,
    out: &mut [f32],
) {
    let cm = g.c * mult;
    out.fill(0.0);
    for ky in 0..g.kh {
        let Some(iy) = tap(oy, ky, g.sh, g.dh, g.pt, g.h) else {
            continue;
        };
        for ox in 0..g.ow {
            let acc = &mut out[ox * cm..(ox + 1) * cm];
            for kx in 0..g.kw {
                let Some(ix) = tap(ox, kx, g.sw, g.dw, g.pl, g.w) else {
                    continue;
                };
                let xp = &x[(iy * g.w + ix) * g.c..][..g.c];
                let wk = &w[(ky * g.kw + kx) * cm..][..cm];
                for (c, &xv) in xp.iter().enumerate() {
                    let a = load(xv, relu_in);
                    for j in 0..mult {
                        acc[c * mult + j] += a * wk[c * mult + j];
                    }
                }
            }
        }
    }
}

/// Depthwise 2-D convolution, NHWC, weights `[kh, kw, c * mult]`
/// (output channel `c * mult + j` reads input channel `c`). The residual, if
/// any, must be [`Residual::Separate`].
#[inline(always)]
#[allow(clippy::too_many_arguments)]
pub fn depthwise(
    g: &Window,
    mult: usize,
    ep: &Epilogue,
    x: &[f32],
    w: &[f32],
    bias: &[f32],
    res: &[f32],
    y: &mut [f32],
) {
    let row = g.ow * g.c * mult;
    for oy in 0..g.oh {
        let out = &mut y[oy * row..(oy + 1) * row];
        depthwise_row(g, mult, ep.relu_in, x, w, oy, out);
        for ox in 0..g.ow {
            let n = g.c * mult;
            finish(
                ep,
                &mut out[ox * n..(ox + 1) * n],
                bias,
                res,
                (oy * g.ow + ox) * n,
            );
        }
    }
}

/// Pointwise (1x1) step on `pixels` rows: `y[p, :] = relu_in?(a[p, :]) . w` with
/// weights `[ci, co]`, then the epilogue. `res_base` is the flat offset of row 0.
#[inline(always)]
#[allow(clippy::too_many_arguments)]
fn pointwise_rows(
    ci: usize,
    co: usize,
    ep: &Epilogue,
    a: &[f32],
    w: &[f32],
    bias: &[f32],
    res: &[f32],
    res_base: usize,
    y: &mut [f32],
) {
    let pixels = a.len() / ci;
    for p in 0..pixels {
        let acc = &mut y[p * co..(p + 1) * co];
        if ep.residual == Residual::InPlace {
            // Accumulate the product first, then add the residual already in `acc`,
            // in the same order as the separate-residual path.
            let mut tmp = [0.0f32; 64];
            let mut c0 = 0;
            while c0 < co {
                let n = (co - c0).min(64);
                let t = &mut tmp[..n];
                t.fill(0.0);
                for (k, &av) in a[p * ci..(p + 1) * ci].iter().enumerate() {
                    let av = load(av, ep.relu_in);
                    for (tv, &wv) in t.iter_mut().zip(&w[k * co + c0..k * co + c0 + n]) {
                        *tv += av * wv;
                    }
                }
                for (j, tv) in t.iter().enumerate() {
                    let mut v = *tv;
                    if ep.bias {
                        v += bias[c0 + j];
                    }
                    v += acc[c0 + j];
                    acc[c0 + j] = if ep.relu { v.max(0.0) } else { v };
                }
                c0 += n;
            }
            continue;
        }
        acc.fill(0.0);
        for (k, &av) in a[p * ci..(p + 1) * ci].iter().enumerate() {
            let av = load(av, ep.relu_in);
            for (acc_v, &wv) in acc.iter_mut().zip(&w[k * co..(k + 1) * co]) {
                *acc_v += av * wv;
            }
        }
        finish(ep, acc, bias, res, res_base + p * co);
    }
}

/// Separable convolution fused row by row: the depthwise output of one output
/// row goes to `scratch` (`ow * c * mult` floats) and is consumed by the
/// pointwise step at once. `relu_in` applies to the depthwise input; bias,
/// residual and ReLU to the pointwise output. Weights: depthwise
/// `[kh, kw, c * mult]`, pointwise `[c * mult, co]`.
#[inline(always)]
#[allow(clippy::too_many_arguments)]
pub fn separable(
    g: &Window,
    mult: usize,
    co: usize,
    ep: &Epilogue,
    x: &[f32],
    dw: &[f32],
    pw: &[f32],
    bias: &[f32],
    res: &[f32],
    scratch: &mut [f32],
    y: &mut [f32],
) {
    separable_rows(
        g,
        mult,
        co,
        ep,
        (x, dw, pw, bias, res),
        scratch,
        y,
        (0, g.oh),
    );
}

/// A separable's operands: input, depthwise and pointwise weights, bias,
/// residual.
type SepOperands<'a> = (&'a [f32], &'a [f32], &'a [f32], &'a [f32], &'a [f32]);

/// Output rows `rows.0..rows.1` of [`separable`] into `y`, which starts at
/// row `rows.0` (the residual does not: it is indexed by the whole output).
#[inline(always)]
#[allow(clippy::too_many_arguments)]
fn separable_rows(
    g: &Window,
    mult: usize,
    co: usize,
    ep: &Epilogue,
    (x, dw, pw, bias, res): SepOperands,
    scratch: &mut [f32],
    y: &mut [f32],
    rows: (usize, usize),
) {
    let cm = g.c * mult;
    let row_in = g.ow * cm;
    let row_out = g.ow * co;
    let pw_ep = Epilogue {
        relu_in: false,
        ..*ep
    };
    for oy in rows.0..rows.1 {
        let s = &mut scratch[..row_in];
        depthwise_row(g, mult, ep.relu_in, x, dw, oy, s);
        let r = oy - rows.0;
        pointwise_rows(
            cm,
            co,
            &pw_ep,
            s,
            pw,
            bias,
            res,
            oy * row_out,
            &mut y[r * row_out..(r + 1) * row_out],
        );
    }
}

/// The same window over an image's rows `base..` only: reading through it
/// finds row `base` at the start of the buffer (a ring of rows, in the
/// `separables_pool` kernels). Output rows keep their numbers.
#[inline(always)]
pub fn rows_from(g: &Window, base: usize) -> Window {
    Window {
        h: g.h - base,
        pt: g.pt + base,
        ..*g
    }
}

/// How many output rows of `g` can be computed from the input's first
/// `done` rows.
#[inline(always)]
pub fn rows_ready(g: &Window, done: usize) -> usize {
    if done >= g.h {
        return g.oh;
    }
    // Row `r` is ready when its last tap row is below `done`.
    (done + g.pt)
        .checked_sub((g.kh - 1) * g.dh)
        .map_or(0, |n| n.div_ceil(g.sh).min(g.oh))
}

/// Makes room for `next` rows after row `end` in a ring of `row`-float rows
/// that holds rows from `*base` on, keeping rows `lo..end` (`*base <= lo <=
/// end`): when they do not fit behind the rows it holds, moves the kept rows
/// to its front and makes `lo` the new base.
#[inline(always)]
pub fn ring_keep(
    ring: &mut [f32],
    base: &mut usize,
    (lo, end): (usize, usize),
    next: usize,
    row: usize,
) {
    if lo > *base && (end - *base + next) * row > ring.len() {
        ring.copy_within((lo - *base) * row..(end - *base) * row, 0);
        *base = lo;
    }
}

/// Rows of a ring that takes blocks of `rows` of an image's `oh` rows, read
/// by a window that still needs `halo` rows before the block: the block, the
/// halo, and room for `spare` more blocks, so that the rows the window still
/// reads move to the ring's front once per `spare + 1` blocks instead of
/// after every one; never more room than the whole image needs.
fn ring_rows(rows: usize, halo: usize, spare: usize, oh: usize) -> usize {
    (rows * (1 + spare) + halo).min((rows + halo).max(oh))
}

/// Scratch floats a `separables_pool` kernel needs: each separable's
/// depthwise block of `rows` rows, and a ring of rows for each separable's
/// output with room for `spare` more blocks (never more than its whole
/// image needs).
pub fn separables_pool_scratch(
    (g1, co1, rows1): (&Window, usize, usize),
    (g2, co2, rows2): (&Window, usize, usize),
    pg: &Window,
    spare: usize,
) -> usize {
    let (rows1, rows2) = (rows1.min(g1.oh), rows2.min(g2.oh));
    let ring1 = ring_rows(rows1, (g2.kh - 1) * g2.dh, spare, g1.oh) * g1.ow * co1;
    let ring2 = ring_rows(rows2, (pg.kh - 1) * pg.dh, spare, g2.oh) * g2.ow * co2;
    rows1 * g1.ow * g1.c + ring1 + rows2 * g2.ow * g2.c + ring2
}

/// The two stages' epilogues of a separable convolution as the SIMD kernels
/// split it: the depthwise takes the input ReLU, the pointwise the rest.
#[inline(always)]
pub fn separable_epilogues(ep: &Epilogue) -> (Epilogue, Epilogue) {
    let dw = Epilogue {
        relu_in: ep.relu_in,
        bias: false,
        residual: Residual::None,
        relu: false,
    };
    (
        dw,
        Epilogue {
            relu_in: false,
            ..*ep
        },
    )
}

/// A chain stage as [`check_separables_pool`] sees it: window, output
/// channels, rows per block, epilogue, weights (packed in `lanes`-wide
/// vectors: depthwise `[kh * kw, cp]`, pointwise `[c, cop]`, padded bias).
pub type CheckedStage<'a> = (&'a Window, usize, usize, &'a Epilogue, SeparableWeights<'a>);

/// The checks every `separables_pool` kernel makes before it streams: the
/// stages chain (each window reads the previous output), the weights,
/// input, residual, scratch (rings with `spare` blocks) and output lengths,
/// and no residual on the separables. Panics with the failed condition.
pub fn check_separables_pool(
    lanes: usize,
    [s1, s2]: [CheckedStage; 2],
    (pg, pep): (&Window, &Epilogue),
    (x, res, scratch, y): (usize, usize, usize, usize),
    spare: usize,
) {
    let ((g1, co1, rows1, ..), (g2, co2, rows2, ..)) = (s1, s2);
    assert!(g2.h == g1.oh && g2.w == g1.ow && g2.c == co1);
    assert!(pg.h == g2.oh && pg.w == g2.ow && pg.c == co2 && rows1 >= 1 && rows2 >= 1);
    assert!(x >= g1.h * g1.w * g1.c && y >= pg.oh * pg.ow * pg.c);
    assert!(pep.residual != Residual::Separate || res >= pg.oh * pg.ow * pg.c);
    for (g, co, _, ep, (dw, pw, bias)) in [s1, s2] {
        let (cp, cop) = (g.c.div_ceil(lanes) * lanes, co.div_ceil(lanes) * lanes);
        assert!(dw.len() >= g.kh * g.kw * cp && pw.len() >= g.c * cop);
        assert!(!ep.bias || bias.len() >= cop);
        assert!(ep.residual == Residual::None);
    }
    let (rows1, rows2) = (rows1.min(g1.oh), rows2.min(g2.oh));
    assert!(scratch >= separables_pool_scratch((g1, co1, rows1), (g2, co2, rows2), pg, spare));
}

/// The stages of a streamed separable → separable → pooling chain, as one
/// instruction set runs them; [`stream_separables_pool`] calls them. Output
/// rows keep their numbers; `out` starts at the block's first row.
pub trait SeparablesPoolStages {
    /// The first separable's output rows `r0..r0 + nr` (`rows`), with
    /// `scratch` for its depthwise rows.
    ///
    /// # Safety
    ///
    /// As the implementing kernel's (the CPU runs its instruction set).
    unsafe fn first(&mut self, rows: (usize, usize), scratch: &mut [f32], out: &mut [f32]);
    /// The second separable's output rows `r0..r0 + nr` through window `g`
    /// over `input` (the first ring).
    ///
    /// # Safety
    ///
    /// As [`Self::first`].
    unsafe fn second(
        &mut self,
        g: &Window,
        input: &[f32],
        rows: (usize, usize),
        scratch: &mut [f32],
        out: &mut [f32],
    );
    /// The pooling's output rows `rows.0..rows.1` through window `g` over
    /// `input` (the second ring).
    ///
    /// # Safety
    ///
    /// As [`Self::first`].
    unsafe fn pool(&mut self, g: &Window, input: &[f32], rows: (usize, usize));
}

/// Streams two separable convolutions and a pooling by rows: the first
/// separable runs a block of `rows1` rows, the second every row its window
/// can now see (in blocks of `rows2`), the pooling likewise. Each
/// separable's output lives in a ring of rows in `scratch` (laid out as
/// [`separables_pool_scratch`] counts it, with room for `spare` more
/// blocks) that keeps only the rows the next window still needs; results
/// are identical to running the three stages one after another.
///
/// # Safety
///
/// As `stages`' methods.
#[inline(always)]
pub unsafe fn stream_separables_pool<S: SeparablesPoolStages>(
    stages: &mut S,
    (g1, co1, rows1): (&Window, usize, usize),
    (g2, co2, rows2): (&Window, usize, usize),
    pg: &Window,
    scratch: &mut [f32],
    spare: usize,
) {
    let (row1, row2) = (g1.ow * co1, g2.ow * co2);
    let (rows1, rows2) = (rows1.clamp(1, g1.oh.max(1)), rows2.clamp(1, g2.oh.max(1)));
    let need = separables_pool_scratch((g1, co1, rows1), (g2, co2, rows2), pg, spare);
    let (s1, rest) = scratch[..need].split_at_mut(rows1 * g1.ow * g1.c);
    let ring1_rows = ring_rows(rows1, (g2.kh - 1) * g2.dh, spare, g1.oh);
    let (ring1, rest) = rest.split_at_mut(ring1_rows * row1);
    let (s2, ring2) = rest.split_at_mut(rows2 * g2.ow * g2.c);
    // Rows done per stage, and the first row each ring holds.
    let (mut a, mut b, mut c) = (0usize, 0usize, 0usize);
    let (mut base1, mut base2) = (0usize, 0usize);
    while c < pg.oh {
        if a < g1.oh {
            // Keep the rows the second separable still reads.
            let lo = (b * g2.sh).saturating_sub(g2.pt).min(a);
            let nr = rows1.min(g1.oh - a);
            ring_keep(ring1, &mut base1, (lo, a), nr, row1);
            // SAFETY: the caller's promise.
            unsafe { stages.first((a, nr), s1, &mut ring1[(a - base1) * row1..]) };
            a += nr;
        }
        let ready = rows_ready(g2, a);
        while b < ready {
            let lo = (c * pg.sh).saturating_sub(pg.pt).min(b);
            let nr = rows2.min(ready - b);
            ring_keep(ring2, &mut base2, (lo, b), nr, row2);
            let g = rows_from(g2, base1);
            let out = &mut ring2[(b - base2) * row2..];
            // SAFETY: the caller's promise.
            unsafe { stages.second(&g, ring1, (b, nr), s2, out) };
            b += nr;
            let done = rows_ready(pg, b);
            // SAFETY: the caller's promise.
            unsafe { stages.pool(&rows_from(pg, base2), ring2, (c, done)) };
            c = done;
        }
    }
}

/// A separable's weights as a kernel takes them: depthwise, pointwise, bias.
pub type SeparableWeights<'a> = (&'a [f32], &'a [f32], &'a [f32]);

/// One separable stage of [`separables_pool`]: window, output channels,
/// epilogue, and the depthwise `[kh, kw, c]`, pointwise `[c, co]` and bias
/// weights.
pub type SeparableStage<'a> = (&'a Window, usize, &'a Epilogue, SeparableWeights<'a>);

/// The scalar stages of [`separables_pool`].
struct ScalarStages<'a> {
    s1: SeparableStage<'a>,
    s2: SeparableStage<'a>,
    x: &'a [f32],
    pool: (bool, &'a Epilogue, &'a [f32]),
    y: &'a mut [f32],
}

impl SeparablesPoolStages for ScalarStages<'_> {
    unsafe fn first(&mut self, (r0, nr): (usize, usize), scratch: &mut [f32], out: &mut [f32]) {
        let (g, co, ep, (dw, pw, bias)) = self.s1;
        separable_rows(
            g,
            1,
            co,
            ep,
            (self.x, dw, pw, bias, &[]),
            scratch,
            out,
            (r0, r0 + nr),
        );
    }

    unsafe fn second(
        &mut self,
        g: &Window,
        input: &[f32],
        (r0, nr): (usize, usize),
        scratch: &mut [f32],
        out: &mut [f32],
    ) {
        let (_, co, ep, (dw, pw, bias)) = self.s2;
        separable_rows(
            g,
            1,
            co,
            ep,
            (input, dw, pw, bias, &[]),
            scratch,
            out,
            (r0, r0 + nr),
        );
    }

    unsafe fn pool(&mut self, g: &Window, input: &[f32], rows: (usize, usize)) {
        let (is_max, ep, res) = self.pool;
        pool_rows(g, ep, input, res, self.y, is_max, rows);
    }
}

/// Two separable convolutions (multiplier 1) and a pooling streamed by rows
/// ([`stream_separables_pool`]) one row at a time, so each ring holds a row
/// plus the rows the next window still reads (see [`separables_pool_scratch`]
/// with blocks of one row). Residual (separate or in place) and ReLU of the
/// pooling as in [`max_pool`]; results are identical to running the three
/// kernels one after another.
#[allow(clippy::too_many_arguments)]
pub fn separables_pool(
    s1: SeparableStage,
    s2: SeparableStage,
    (pg, is_max, pep): (&Window, bool, &Epilogue),
    x: &[f32],
    res: &[f32],
    scratch: &mut [f32],
    y: &mut [f32],
) {
    let (g1, co1, g2, co2) = (s1.0, s1.1, s2.0, s2.1);
    check_separables_pool(
        1,
        [(g1, co1, 1, s1.2, s1.3), (g2, co2, 1, s2.2, s2.3)],
        (pg, pep),
        (x.len(), res.len(), scratch.len(), y.len()),
        0,
    );
    let mut stages = ScalarStages {
        s1,
        s2,
        x,
        pool: (is_max, pep, res),
        y,
    };
    // SAFETY: the scalar stages are safe code.
    unsafe { stream_separables_pool(&mut stages, (g1, co1, 1), (g2, co2, 1), pg, scratch, 0) };
}

/// Whether the x86 `conv1x1` kernel reads the image as it is (stride 1: its
/// pixels are the GEMM's rows) rather than a copy of the strided pixels.
pub fn conv1x1_in_place(g: &Window) -> bool {
    (g.sh, g.sw, g.ow) == (1, 1, g.w)
}

/// Floats of scratch the x86 `conv1x1` kernel needs: none when it reads the
/// image in place ([`conv1x1_in_place`]), else the strided pixels
/// (`oh * ow * c`).
pub fn conv1x1_scratch(g: &Window) -> usize {
    if conv1x1_in_place(g) {
        0
    } else {
        g.oh * g.ow * g.c
    }
}

/// Floats of scratch the x86 `conv3x3_winograd` kernel needs: one tile row's transformed
/// inputs (`16 * tw * c`) and products (`16 * tw * cop`), `tw` the output
/// width in 2-pixel tiles.
pub fn winograd_scratch(ow: usize, c: usize, co: usize, lanes: usize) -> usize {
    16 * ow.div_ceil(2) * (c + co.div_ceil(lanes) * lanes)
}

/// Dense layer over the last axis: `rows` rows of `ci` inputs, weights `[ci, co]`.
#[inline(always)]
#[allow(clippy::too_many_arguments)]
pub fn dense(
    ci: usize,
    co: usize,
    ep: &Epilogue,
    x: &[f32],
    w: &[f32],
    bias: &[f32],
    res: &[f32],
    y: &mut [f32],
) {
    pointwise_rows(ci, co, ep, x, w, bias, res, 0, y);
}

/// Per-channel `y = x * scale + shift` (a BatchNormalization that was not
/// folded), with the epilogue's residual and ReLU. `y` may be the same buffer
/// as the input when called through [`affine_in_place`].
#[inline(always)]
pub fn affine(
    c: usize,
    ep: &Epilogue,
    x: &[f32],
    scale: &[f32],
    shift: &[f32],
    res: &[f32],
    y: &mut [f32],
) {
    for (i, (yv, &xv)) in y.iter_mut().zip(x).enumerate() {
        let k = i % c;
        let mut v = load(xv, ep.relu_in) * scale[k] + shift[k];
        if ep.residual == Residual::Separate {
            v += res[i];
        }
        *yv = if ep.relu { v.max(0.0) } else { v };
    }
}

/// [`affine`] on a buffer that is both input and output (no residual).
#[inline(always)]
pub fn affine_in_place(c: usize, ep: &Epilogue, y: &mut [f32], scale: &[f32], shift: &[f32]) {
    for (i, yv) in y.iter_mut().enumerate() {
        let k = i % c;
        let v = load(*yv, ep.relu_in) * scale[k] + shift[k];
        *yv = if ep.relu { v.max(0.0) } else { v };
    }
}

/// Max pooling (padding never wins), with the epilogue's residual and ReLU.
#[inline(always)]
pub fn max_pool(g: &Window, ep: &Epilogue, x: &[f32], res: &[f32], y: &mut [f32]) {
    pool(g, ep, x, res, y, true);
}

/// Average pooling; 'same' padding divides by the number of in-bounds pixels.
#[inline(always)]
pub fn avg_pool(g: &Window, ep: &Epilogue, x: &[f32], res: &[f32], y: &mut [f32]) {
    pool(g, ep, x, res, y, false);
}

#[inline(always)]
fn pool(g: &Window, ep: &Epilogue, x: &[f32], res: &[f32], y: &mut [f32], is_max: bool) {
    pool_rows(g, ep, x, res, y, is_max, (0, g.oh));
}

/// Output rows `rows.0..rows.1` of a pooling.
#[inline(always)]
fn pool_rows(
    g: &Window,
    ep: &Epilogue,
    x: &[f32],
    res: &[f32],
    y: &mut [f32],
    is_max: bool,
    rows: (usize, usize),
) {
    let c = g.c;
    // Channels innermost, in blocks of 64 accumulated on the stack (the output
    // may hold the residual in place, so it cannot be the accumulator).
    let mut acc = [0.0f32; 64];
    for oy in rows.0..rows.1 {
        for ox in 0..g.ow {
            let o = (oy * g.ow + ox) * c;
            let mut k0 = 0;
            while k0 < c {
                let n = (c - k0).min(64);
                let a = &mut acc[..n];
                a.fill(if is_max { f32::NEG_INFINITY } else { 0.0 });
                let mut count = 0usize;
                for ky in 0..g.kh {
                    let Some(iy) = tap(oy, ky, g.sh, 1, g.pt, g.h) else {
                        continue;
                    };
                    for kx in 0..g.kw {
                        let Some(ix) = tap(ox, kx, g.sw, 1, g.pl, g.w) else {
                            continue;
                        };
                        let xp = &x[(iy * g.w + ix) * c + k0..][..n];
                        for (av, &xv) in a.iter_mut().zip(xp) {
                            let v = load(xv, ep.relu_in);
                            *av = if is_max { av.max(v) } else { *av + v };
                        }
                        count += 1;
                    }
                }
                for (j, &av) in a.iter().enumerate() {
                    let mut v = if is_max { av } else { av / count as f32 };
                    v += match ep.residual {
                        Residual::None => 0.0,
                        Residual::Separate => res[o + k0 + j],
                        Residual::InPlace => y[o + k0 + j],
                    };
                    y[o + k0 + j] = if ep.relu { v.max(0.0) } else { v };
                }
                k0 += n;
            }
        }
    }
}

/// Global average (or max) pooling of `hw` pixels of `c` channels into `y[c]`.
/// Pixel by pixel, accumulating in `y`: each channel still sums its pixels in
/// order, and the inner loop runs along contiguous channels (vectorised by
/// the compiler) rather than striding `c` floats per read.
#[inline(always)]
pub fn global_pool(hw: usize, c: usize, is_max: bool, relu_in: bool, x: &[f32], y: &mut [f32]) {
    let (x, y) = (&x[..hw * c], &mut y[..c]);
    y.fill(if is_max { f32::NEG_INFINITY } else { 0.0 });
    if c == 0 {
        return;
    }
    for px in x.chunks_exact(c) {
        for (acc, &v) in y.iter_mut().zip(px) {
            let v = load(v, relu_in);
            *acc = if is_max { acc.max(v) } else { *acc + v };
        }
    }
    if !is_max {
        for acc in y.iter_mut() {
            *acc /= hw as f32;
        }
    }
}

/// `y = relu?(x0 + x1)`.
#[inline(always)]
pub fn add(relu: bool, x0: &[f32], x1: &[f32], y: &mut [f32]) {
    for ((yv, &a), &b) in y.iter_mut().zip(x0).zip(x1) {
        let v = a + b;
        *yv = if relu { v.max(0.0) } else { v };
    }
}

/// `y = relu?(y + x1)`.
#[inline(always)]
pub fn add_in_place(relu: bool, y: &mut [f32], x1: &[f32]) {
    for (yv, &b) in y.iter_mut().zip(x1) {
        let v = *yv + b;
        *yv = if relu { v.max(0.0) } else { v };
    }
}

/// `y = max(x, 0)`.
#[inline(always)]
pub fn relu(x: &[f32], y: &mut [f32]) {
    for (yv, &v) in y.iter_mut().zip(x) {
        *yv = v.max(0.0);
    }
}

/// `y = max(y, 0)`.
#[inline(always)]
pub fn relu_in_place(y: &mut [f32]) {
    for v in y.iter_mut() {
        *v = v.max(0.0);
    }
}

/// Softmax over each row of `c` values, in place (max-subtracted, f32 `exp`
/// computed in `f64` for accuracy on targets without `libm`).
#[inline(always)]
pub fn softmax_in_place(c: usize, y: &mut [f32]) {
    for row in y.chunks_exact_mut(c) {
        let m = row.iter().fold(f32::NEG_INFINITY, |a, &b| a.max(b));
        let mut sum = 0.0f64;
        for v in row.iter_mut() {
            let e = exp_f64(f64::from(*v - m));
            *v = e as f32;
            sum += e;
        }
        for v in row.iter_mut() {
            *v = (f64::from(*v) / sum) as f32;
        }
    }
}

/// `exp(x)` for `x <= 0` without `std`: range reduction by `ln 2` and a
/// Taylor polynomial, accurate to about 1 ulp of f64 (far below f32 precision).
#[inline(always)]
fn exp_f64(x: f64) -> f64 {
    if x < -745.0 {
        return 0.0;
    }
    const LN2: f64 = core::f64::consts::LN_2;
    let k = (x / LN2 - 0.5) as i64;
    let r = x - k as f64 * LN2;
    let mut term = 1.0f64;
    let mut sum = 1.0f64;
    for i in 1..24 {
        term *= r / i as f64;
        sum += term;
    }
    let mut scale = 1.0f64;
    let mut e = k;
    while e < 0 {
        let step = e.max(-1000);
        scale *= f64::from_bits(((1023 + step) as u64) << 52);
        e -= step;
    }
    sum * scale
}
