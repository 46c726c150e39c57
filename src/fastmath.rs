//! Branch-free float32 transcendentals that the compiler vectorises (libm's
//! scalar calls do not, and dominate elementwise-heavy workloads). Accuracy
//! in ulps from libm's f64 result rounded to f32: the bound the tests below
//! assert over sweeps of ≥ 10M arguments (subnormals, huge values, ±0, ±inf,
//! NaN), and the worst seen over every 7th float bit pattern (613M
//! arguments; for `pow_f32` 141M pairs). Special values are libm's exactly.
//!
//! | function     | bound | worst seen | evaluated in |
//! |--------------|-------|------------|--------------|
//! | `exp_f32`    | 2     | 1          | f32          |
//! | `tanh_f32`   | 4     | 2          | f32          |
//! | `ln_f32`     | 1     | 0          | f64          |
//! | `ln_1p_f32`  | 1     | 0          | f64          |
//! | `exp_m1_f32` | 1     | 1          | f64          |
//! | `erf_f32`    | 1     | 1          | f64          |
//! | `pow_f32`    | 1     | 0          | f64          |
//!
//! `pow_f32` is `Num::pow` for float32 (so eager and fused results stay
//! bitwise equal). A trap found on the way: handed to a kernel as a fn item
//! (`kernels::zip(x, y, shape, pow_f32)`, or the `F::f::<f32>` of
//! `apply_num2`), it is called through an `Fn::call` shim that LLVM does
//! not inline when the body is this large, so the loop made one scalar,
//! baseline-SSE2 call per element (38 ns against libm's 4.5). Passed as an
//! `#[inline(always)] |p, q| pow_f32(p, q)` closure it is inlined and
//! vectorised: 3.7 ms for 1M elements on one core against libm's 8.6
//! (loaded machine).

//! float32 `sin`/`cos` (`sin_f32s`, `cos_f32s`) work on slices: per
//! element there is no cheap way to leave the fast path, since LLVM
//! evaluates libm's `sin` intrinsic for every lane of every vector (it is
//! "speculatable") and an out-of-line call stops vectorisation. So a block
//! of 256 arguments goes through a Cody–Waite reduction by π/2 in f64 and
//! two f64 polynomials (branch-free, vectorised), and only a block with
//! some |x| > `SINCOS_REDUCE_MAX` (or inf/NaN) is redone by libm for those
//! lanes. Beyond that bound the argument needs Payne–Hanek reduction, and
//! the branch-free variants tried (a table of 2/π per exponent: gathers,
//! ~4× libm's time on AVX-512; exact 24-bit pieces of 2/π for every
//! exponent with two-sum accumulation: 2× libm's) cost more than they save.
//!
//! | function   | bound | evaluated in |
//! |------------|-------|--------------|
//! | `sin_f32s` | 1     | f64          |
//! | `cos_f32s` | 1     | f64          |
//!
//! (bound: what the test asserts over 10.5M bit patterns plus 4M evenly
//! spaced arguments below 2^27; the 613M-argument sweep was not run for
//! these two.) On one core, 1M float32 arguments: 6.3 ms against libm's
//! 9.3 ms (thread CPU time, min of 15, AVX-512 machine under load).

use std::mem::MaybeUninit;

/// e^x for f32: x = n·ln2 + r with |r| ≤ ln2/2, e^r by a degree-7
/// polynomial, 2^n assembled from exponent bits in two halves so that
/// subnormal results stay exact.
#[inline(always)]
pub fn exp_f32(x: f32) -> f32 {
    const LOG2E: f32 = std::f32::consts::LOG2_E;
    // ln 2 split so that n·LN2_HI is exact for |n| < 2^9
    const LN2_HI: f32 = 0.693_145_75;
    const LN2_LO: f32 = 1.428_606_8e-6;
    // 1.5·2^23: adding it rounds to an integer held in the low mantissa bits
    const ROUND: f32 = 12_582_912.0;
    // beyond these e^x is inf or below the smallest subnormal
    let xc = x.clamp(-104.0, 88.8);
    let shifted = xc * LOG2E + ROUND;
    let n = shifted - ROUND;
    let r = (xc - n * LN2_HI) - n * LN2_LO;
    let p = 1.0
        + r * (1.0
            + r * (0.5
                + r * (1.0 / 6.0
                    + r * (1.0 / 24.0
                        + r * (1.0 / 120.0 + r * (1.0 / 720.0 + r * (1.0 / 5040.0)))))));
    // n as an integer straight from the bits: a float→int `as` cast
    // saturates, which keeps the loop from vectorising
    let n = (shifted.to_bits() as i32).wrapping_sub(ROUND.to_bits() as i32);
    let half = n >> 1;
    let scale = |e: i32| f32::from_bits((e.wrapping_add(127) as u32) << 23);
    let y = p * scale(half) * scale(n - half);
    if x.is_nan() { x } else { y }
}

/// tanh for f32: an odd Taylor polynomial near 0 (where 1 − 2/(e^{2x}+1)
/// would cancel), that expression elsewhere; saturates to ±1 and keeps NaN.
#[inline(always)]
pub fn tanh_f32(x: f32) -> f32 {
    let a = x.abs();
    let small = {
        let s = a * a;
        // x − x³/3 + 2x⁵/15 − 17x⁷/315 + 62x⁹/2835 − 1382x¹¹/155925
        //   + 21844x¹³/6081075 − 929569x¹⁵/638512875 + 6404582x¹⁷/10854718875
        let tail = -929_569.0 / 638_512_875.0 + s * (6_404_582.0 / 10_854_718_875.0);
        a * (1.0
            + s * (-1.0 / 3.0
                + s * (2.0 / 15.0
                    + s * (-17.0 / 315.0
                        + s * (62.0 / 2835.0
                            + s * (-1382.0 / 155_925.0
                                + s * (21844.0 / 6_081_075.0 + s * tail)))))))
    };
    let large = 1.0 - 2.0 / (exp_f32(2.0 * a) + 1.0);
    let t = if a < 0.5 { small } else { large };
    t.copysign(x)
}

// ---------------------------------------------------------------------------
// float32 ln, ln_1p, exp_m1, erf and powf, evaluated in f64. A float32
// argument is exact in f64, and f64 carries 29 bits beyond f32's, so Taylor
// polynomials land within ~1e-13 of the true value; the single rounding to
// f32 at the end then gives the correctly rounded result except right next
// to a rounding boundary: at most 1 ulp off (the tests below sweep ≥ 10M
// arguments against f64 libm). No FMA (the
// baseline build has none, and results must not depend on the vector width),
// and choices are selects, so the loops vectorise: at half the lanes of pure
// f32, still several times faster than scalar libm.
// ---------------------------------------------------------------------------

/// 1.5·2^52: adding it to |v| < 2^51 rounds v to an integer held in the low
/// mantissa bits.
const ROUND_F64: f64 = 6_755_399_441_055_744.0;

/// Horner's rule Σ c_k v^k. `N` is a constant, so the loop unrolls into
/// straight-line code (which is what lets the caller's loop vectorise).
#[inline(always)]
fn horner<const N: usize>(v: f64, c: &[f64; N]) -> f64 {
    let mut acc = 0.0;
    for &ck in c.iter().rev() {
        acc = acc * v + ck;
    }
    acc
}

/// [1/0!, 1/1!, …, 1/(N−1)!].
const fn inverse_factorials<const N: usize>() -> [f64; N] {
    let mut c = [1.0; N];
    let mut k = 1;
    while k < N {
        c[k] = c[k - 1] / k as f64;
        k += 1;
    }
    c
}

/// e^z for f64, relative error ~2e-16: z = n·ln2 + r with |r| ≤ ln2/2, e^r
/// by its Taylor polynomial to r^12 (remainder < 2e-16), 2^n from exponent
/// bits. z is clamped to ±700 (far past where an f32 result saturates);
/// NaN stays NaN.
#[inline(always)]
fn exp_f64(z: f64) -> f64 {
    // ln 2 split so that n·LN2_HI is exact for |n| < 2^11
    const LN2_HI: f64 = 0.693_147_180_559_890_3;
    const LN2_LO: f64 = 5.497_923_018_708_371e-14;
    const C: [f64; 13] = inverse_factorials();
    let zc = z.clamp(-700.0, 700.0);
    let shifted = zc * std::f64::consts::LOG2_E + ROUND_F64;
    let n = shifted - ROUND_F64;
    let r = (zc - n * LN2_HI) - n * LN2_LO;
    let n = (shifted.to_bits() as i64).wrapping_sub(ROUND_F64.to_bits() as i64);
    horner(r, &C) * f64::from_bits((n.wrapping_add(1023) as u64) << 52)
}

/// ln d for positive, finite, normal f64 d (every positive finite f32 is
/// one), relative error ~2e-16: d = m·2^e with m in [√½, √2), and
/// ln m = 2·atanh s = 2(s + s³/3 + s⁵/5 + …) with s = (m−1)/(m+1), |s| ≤ 0.172
/// (remainder s^21/21 < 1e-17). Other d give garbage: callers select.
#[inline(always)]
fn ln_f64(d: f64) -> f64 {
    const C: [f64; 10] = {
        let mut c = [0.0; 10];
        let mut k = 0;
        while k < 10 {
            c[k] = 2.0 / (2 * k + 1) as f64;
            k += 1;
        }
        c
    };
    const MANTISSA: u64 = (1 << 52) - 1;
    let bits = d.to_bits();
    let e = ((bits >> 52) as i32).wrapping_sub(1023);
    let m = f64::from_bits((bits & MANTISSA) | (1023 << 52));
    let big = m > std::f64::consts::SQRT_2;
    let (m, e) = if big { (m * 0.5, e + 1) } else { (m, e) };
    let s = (m - 1.0) / (m + 1.0);
    e as f64 * std::f64::consts::LN_2 + s * horner(s * s, &C)
}

/// ln x for f32 within 1 ulp of the correctly rounded result (subnormals
/// included: they are normal in f64); ln 0 = −inf, ln(+inf) = +inf, NaN for
/// x < 0 and NaN, as libm.
#[inline(always)]
pub fn ln_f32(x: f32) -> f32 {
    let y = ln_f64(x as f64) as f32;
    if x > 0.0 && x < f32::INFINITY {
        y
    } else if x == 0.0 {
        f32::NEG_INFINITY
    } else if x == f32::INFINITY {
        x
    } else {
        f32::NAN
    }
}

/// ln(1 + x) for f32 within 1 ulp of the correctly rounded result. 1 + x
/// is exact in f64 for 2^-26 ≤ |x| ≤ 2^26 (and relatively exact enough
/// beyond); below 2^-26, ln(1 + x) = x(1 − x/2 + …) rounds to x itself.
/// −1 ↦ −inf, below −1 NaN, ±0 ↦ ±0, as libm.
#[inline(always)]
pub fn ln_1p_f32(x: f32) -> f32 {
    const TINY: f32 = 1.490_116_1e-8; // 2^-26
    let y = ln_f64(1.0 + x as f64) as f32;
    let y = if x.abs() < TINY { x } else { y };
    if x > -1.0 && x < f32::INFINITY {
        y
    } else if x == -1.0 {
        f32::NEG_INFINITY
    } else if x == f32::INFINITY {
        x
    } else {
        f32::NAN
    }
}

/// e^x − 1 for f32 within 1 ulp of the correctly rounded result: e^x − 1 in
/// f64 (the cancellation near 0 costs at most log2(1/|x|) of f64's 29 spare
/// bits) for |x| ≥ 2^-16, the Taylor polynomial x + x²/2 + x³/6 + x⁴/24
/// below. Saturates to −1 and +inf; ±0 ↦ ±0; NaN stays NaN.
#[inline(always)]
pub fn exp_m1_f32(x: f32) -> f32 {
    const SMALL: f64 = 1.0 / 65536.0;
    let d = x as f64;
    let small = d * (1.0 + d * (0.5 + d * (1.0 / 6.0 + d * (1.0 / 24.0))));
    let y = if d.abs() < SMALL {
        small
    } else {
        exp_f64(d) - 1.0
    };
    y as f32
}

/// erf x for f32 within 1 ulp of the correctly rounded result, from the
/// series erf a = 2/√π · e^(−a²) · a · Σ (2a²)^k / (1·3·…·(2k+1)), whose
/// terms are all positive (no cancellation); 47 terms reach 4e-10 relative
/// at a = 4, and from there on erf rounds to ±1 in f32 (erfc 4 < 2^-25).
#[inline(always)]
pub fn erf_f32(x: f32) -> f32 {
    const TERMS: usize = 47;
    // c_k = 2^k / (2k+1)!!
    const C: [f64; TERMS] = {
        let mut c = [1.0; TERMS];
        let mut k = 1;
        while k < TERMS {
            c[k] = c[k - 1] * 2.0 / (2 * k + 1) as f64;
            k += 1;
        }
        c
    };
    const SATURATE: f32 = 4.0;
    let a = f64::from(x.abs().min(SATURATE)); // NaN: masked below
    let t = a * a; // exact: a has 24 significant bits
    let y = std::f64::consts::FRAC_2_SQRT_PI * a * exp_f64(-t) * horner(t, &C);
    let y = if x.abs() < SATURATE { y as f32 } else { 1.0 };
    if x.is_nan() { x } else { y.copysign(x) }
}

/// x^y for f32 within 1 ulp of the correctly rounded result: e^(y·ln|x|) in
/// f64 (y·ln|x| to ~1e-16 relative, and it need only stay within ±104 for
/// a finite, non-zero result), then the sign and IEEE 754's special cases,
/// as `f32::powf` (C99 pow): x^±0 = 1 and 1^y = 1 even for NaN; (−1)^±inf
/// = 1; negative finite x to a finite non-integer y is NaN; a negative x
/// (−0 and −inf included) to an odd integer y keeps its sign; 0 and inf
/// follow the sign of y.
#[inline(always)]
pub fn pow_f32(x: f32, y: f32) -> f32 {
    // 2^23: adding it to 0 ≤ v < 2^23 rounds v to an integer in the low
    // mantissa bits; every float ≥ 2^23 is an integer, every one ≥ 2^24 even
    const TWO_23: f32 = 8_388_608.0;
    let ax = x.abs();
    let ay = y.abs();
    let shifted = ay + TWO_23;
    let y_integer = ay >= TWO_23 || shifted - TWO_23 == ay;
    let parity_bits = if ay < TWO_23 { shifted } else { ay }.to_bits();
    let y_odd = y_integer && ay < 2.0 * TWO_23 && parity_bits & 1 == 1;

    let magnitude = exp_f64(y as f64 * ln_f64(ax as f64)) as f32;
    // 0 and inf: what e^(y·(∓inf)) would give
    let zero_or_inf = |negative_y_gives_inf: bool| {
        if (y < 0.0) == negative_y_gives_inf {
            f32::INFINITY
        } else {
            0.0
        }
    };
    let magnitude = if ax == 0.0 {
        zero_or_inf(true)
    } else {
        magnitude
    };
    let magnitude = if ax == f32::INFINITY {
        zero_or_inf(false)
    } else {
        magnitude
    };
    // |x| = 1 to ±inf: ±inf·0 in the exponent, but 1 by definition
    let magnitude = if ax == 1.0 && ay == f32::INFINITY {
        1.0
    } else {
        magnitude
    };
    let signed = if x.is_sign_negative() && y_odd {
        -magnitude
    } else {
        magnitude
    };
    let invalid =
        (x < 0.0 && x.is_finite() && ay < f32::INFINITY && !y_integer) || x.is_nan() || y.is_nan();
    let r = if invalid { f32::NAN } else { signed };
    if y == 0.0 || x == 1.0 { 1.0 } else { r }
}

/// Largest |x| that `sin_cos_reduced` takes: n = round(x·2/π) < 2^28, so
/// n·PIO2_HI (25 significant bits) is exact in f64, and the 78 bits of π/2
/// in PIO2_HI + PIO2_LO leave the reduced argument ~2^-50 absolute error,
/// far below half an ulp of any f32 sine or cosine in this range.
pub const SINCOS_REDUCE_MAX: f32 = 268_435_456.0; // 2^28

/// sin x (`quarter` = 0) or cos x = sin(x + π/2) (`quarter` = 1) for
/// |x| ≤ `SINCOS_REDUCE_MAX`: x = n·π/2 + r, |r| ≤ π/4, in f64, then
/// ±sin r or ±cos r by the quadrant n mod 4, each a Taylor polynomial
/// (remainders r^15/15! and r^14/14! < 4e-13 at π/4). Garbage beyond the
/// bound: callers select.
#[inline(always)]
fn sin_cos_reduced(x: f32, quarter: i64) -> f32 {
    // π/2 to 25 bits, and the f64 nearest the rest
    const PIO2_HI: f64 = 1.570_796_310_901_641_8;
    const PIO2_LO: f64 = 1.589_325_477_352_819_6e-8;
    const SIN: [f64; 7] = {
        // (−1)^k / (2k+1)!
        let mut c = [1.0; 7];
        let mut k = 1;
        while k < 7 {
            c[k] = -c[k - 1] / ((2 * k) * (2 * k + 1)) as f64;
            k += 1;
        }
        c
    };
    const COS: [f64; 8] = {
        // (−1)^k / (2k)!
        let mut c = [1.0; 8];
        let mut k = 1;
        while k < 8 {
            c[k] = -c[k - 1] / ((2 * k - 1) * (2 * k)) as f64;
            k += 1;
        }
        c
    };
    let d = f64::from(x);
    let shifted = d * std::f64::consts::FRAC_2_PI + ROUND_F64;
    let n = shifted - ROUND_F64;
    let r = (d - n * PIO2_HI) - n * PIO2_LO;
    // n mod 4 from the low mantissa bits (2^51 + n there: two's complement)
    let q = (shifted.to_bits() as i64).wrapping_add(quarter) & 3;
    let s = r * r;
    let sin_r = r * horner(s, &SIN);
    let cos_r = horner(s, &COS);
    let v = if q & 1 == 0 { sin_r } else { cos_r };
    let v = if q & 2 == 0 { v } else { -v };
    v as f32
}

/// `libm(x)` (or its vector twin) over a slice, in blocks: the vector path
/// for every lane, then libm again for the lanes of a block that hold an
/// argument beyond `SINCOS_REDUCE_MAX`, inf or NaN.
#[inline(always)]
fn sin_cos_f32s(xs: &[f32], out: &mut [MaybeUninit<f32>], quarter: i64, libm: fn(f32) -> f32) {
    const BLOCK: usize = 256;
    const LIMIT: u32 = SINCOS_REDUCE_MAX.to_bits();
    for (xb, ob) in xs.chunks(BLOCK).zip(out.chunks_mut(BLOCK)) {
        // |x| as bits: ordered like |x|, and inf and NaN sort above every finite
        let mut widest = 0u32;
        for (o, &x) in ob.iter_mut().zip(xb) {
            widest = widest.max(x.to_bits() & 0x7fff_ffff);
            o.write(sin_cos_reduced(x, quarter));
        }
        if widest > LIMIT {
            for (o, &x) in ob.iter_mut().zip(xb) {
                if x.to_bits() & 0x7fff_ffff > LIMIT {
                    o.write(libm(x));
                }
            }
        }
    }
}

/// sin of every element of `xs` into `out` (same length), within 1 ulp of
/// the correctly rounded result; libm's own values beyond 2^28, for ±inf
/// and NaN. ±0 keep their sign.
#[inline(always)]
pub fn sin_f32s(xs: &[f32], out: &mut [MaybeUninit<f32>]) {
    sin_cos_f32s(xs, out, 0, f32::sin);
}

/// cos of every element of `xs` into `out`, as `sin_f32s`.
#[inline(always)]
pub fn cos_f32s(xs: &[f32], out: &mut [MaybeUninit<f32>]) {
    sin_cos_f32s(xs, out, 1, f32::cos);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ulps(a: f32, b: f32) -> u32 {
        if a == b || (a.is_nan() && b.is_nan()) {
            return 0;
        }
        let (ia, ib) = (a.to_bits() as i32, b.to_bits() as i32);
        if (ia < 0) != (ib < 0) {
            return u32::MAX;
        }
        ia.abs_diff(ib)
    }

    fn sweep() -> impl Iterator<Item = f32> {
        // every 97th float bit pattern over the finite range, plus specials
        (0..u32::MAX / 97)
            .map(|i| f32::from_bits(i * 97))
            .filter(|x| x.is_finite())
            .chain([
                0.0,
                -0.0,
                f32::INFINITY,
                f32::NEG_INFINITY,
                f32::NAN,
                88.72,
                -87.3,
                -103.0,
                1e-40,
            ])
    }

    #[test]
    fn exp_is_within_two_ulp_of_libm() {
        let worst = sweep()
            .filter(|x| x.abs() < 110.0 || !x.is_finite())
            .map(|x| (ulps(exp_f32(x), ((x as f64).exp()) as f32), x.to_bits()))
            .max()
            .unwrap();
        assert!(
            worst.0 <= 2,
            "worst {} ulp at x = {}",
            worst.0,
            f32::from_bits(worst.1)
        );
    }

    #[test]
    fn tanh_is_within_four_ulp_of_libm() {
        let worst = sweep()
            .map(|x| (ulps(tanh_f32(x), ((x as f64).tanh()) as f32), x.to_bits()))
            .max()
            .unwrap();
        assert!(
            worst.0 <= 4,
            "worst {} ulp at x = {}",
            worst.0,
            f32::from_bits(worst.1)
        );
        assert_eq!(tanh_f32(-0.0).to_bits(), (-0.0f32).to_bits());
        assert_eq!(tanh_f32(f32::INFINITY), 1.0);
        assert!(tanh_f32(f32::NAN).is_nan());
    }

    /// Bitwise equal (so ±0 differ), or both NaN (whatever their sign bit).
    fn same(a: f32, b: f32) -> bool {
        a.to_bits() == b.to_bits() || (a.is_nan() && b.is_nan())
    }

    /// Every `stride`th float bit pattern (both signs, subnormals, huge
    /// values), plus ±0, ±inf, NaN and `extra`.
    fn dense(stride: u32, extra: &[f32]) -> impl Iterator<Item = f32> + '_ {
        (0..u32::MAX / stride)
            .map(move |i| f32::from_bits(i * stride))
            .chain([0.0, -0.0, f32::INFINITY, f32::NEG_INFINITY, f32::NAN])
            .chain(extra.iter().copied())
    }

    /// The worst ulp distance of `ours` from `reference` (f64 libm, rounded
    /// to f32) over `xs`, with the argument where it occurs.
    fn worst(
        xs: impl Iterator<Item = f32>,
        ours: impl Fn(f32) -> f32,
        reference: impl Fn(f64) -> f64,
    ) -> (u32, f32) {
        xs.map(|x| (ulps(ours(x), reference(x as f64) as f32), x.to_bits()))
            .max()
            .map(|(u, bits)| (u, f32::from_bits(bits)))
            .unwrap()
    }

    // Sweeps of ≥ 10M arguments: every 409th bit pattern is 10.5M floats.
    const STRIDE: u32 = 409;

    #[test]
    fn ln_and_ln_1p_are_within_one_ulp_of_libm() {
        let (u, at) = worst(dense(STRIDE, &[1.0, 2.0, 0.5, 1e-45]), ln_f32, f64::ln);
        assert!(u <= 1, "ln: worst {u} ulp at x = {at}");
        let near_zero = [-1.0, -0.999_999_9, 1.490_116_1e-8, -1.490_116_1e-8, 1e-45];
        let (u, at) = worst(dense(STRIDE, &near_zero), ln_1p_f32, f64::ln_1p);
        assert!(u <= 1, "ln_1p: worst {u} ulp at x = {at}");
        for x in [
            0.0,
            -0.0,
            -1.0,
            -1e-30,
            f32::INFINITY,
            f32::NEG_INFINITY,
            f32::NAN,
            1.0,
        ] {
            assert!(same(ln_f32(x), x.ln()), "ln({x})");
        }
        for x in [
            -1.0,
            -2.0,
            0.0,
            -0.0,
            f32::INFINITY,
            f32::NEG_INFINITY,
            1e-45,
            -1e-45,
        ] {
            assert!(same(ln_1p_f32(x), x.ln_1p()), "ln_1p({x})");
        }
        assert!(ln_f32(f32::NAN).is_nan() && ln_1p_f32(f32::NAN).is_nan());
    }

    #[test]
    fn exp_m1_is_within_one_ulp_of_libm() {
        let edges = [1.0 / 65536.0, -1.0 / 65536.0, 88.72, 88.73, -17.0, -104.0];
        let (u, at) = worst(dense(STRIDE, &edges), exp_m1_f32, f64::exp_m1);
        assert!(u <= 1, "exp_m1: worst {u} ulp at x = {at}");
        for x in [
            0.0,
            -0.0,
            f32::INFINITY,
            f32::NEG_INFINITY,
            1e-45,
            -1e-45,
            1e30,
        ] {
            assert!(same(exp_m1_f32(x), x.exp_m1()), "exp_m1({x})");
        }
        assert!(exp_m1_f32(f32::NAN).is_nan());
    }

    #[test]
    fn erf_is_within_one_ulp_of_libm() {
        let edges = [3.9, 3.92, 3.999_999_8, 4.0, -4.0, 1e-45, -1e-45];
        let (u, at) = worst(dense(STRIDE, &edges), erf_f32, libm::erf);
        assert!(u <= 1, "erf: worst {u} ulp at x = {at}");
        assert_eq!(erf_f32(-0.0).to_bits(), (-0.0f32).to_bits());
        assert_eq!(erf_f32(f32::NEG_INFINITY), -1.0);
        assert!(erf_f32(f32::NAN).is_nan());
    }

    /// Arguments where powf's special cases live.
    const POW_SPECIALS: [f32; 24] = [
        0.0,
        -0.0,
        1.0,
        -1.0,
        0.5,
        -0.5,
        2.0,
        -2.0,
        3.0,
        -3.0,
        2.5,
        -2.5,
        1e-45,
        -1e-45,
        16_777_216.0,
        -16_777_215.0,
        8_388_609.0,
        -8_388_609.5,
        1e30,
        -1e30,
        f32::INFINITY,
        f32::NEG_INFINITY,
        f32::NAN,
        f32::MAX,
    ];

    #[test]
    fn pow_special_cases_are_libms() {
        for x in POW_SPECIALS {
            for y in POW_SPECIALS {
                let (ours, libm) = (pow_f32(x, y), x.powf(y));
                assert!(same(ours, libm), "pow({x}, {y}) = {ours}, libm {libm}");
            }
        }
    }

    #[test]
    fn pow_is_within_one_ulp_of_libm() {
        // 4.2M bases (every 1021st pattern) × 3 exponents each: a random
        // float in (−64, 64), a random integer there and a random bit
        // pattern (mostly overflow/underflow or NaN), so ≥ 12M pairs
        let mut state = 0x2545_f491_4f6c_dd1du64;
        let mut next = move || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        let mut worst_seen = (0u32, 0.0f32, 0.0f32);
        for x in dense(1021, &POW_SPECIALS) {
            let r = next();
            let fraction = (r >> 40) as f32 / (1u64 << 24) as f32;
            let ys = [
                (fraction - 0.5) * 128.0,
                ((r & 127) as f32 - 64.0),
                f32::from_bits((r >> 8) as u32),
            ];
            for y in ys {
                let u = ulps(pow_f32(x, y), (x as f64).powf(y as f64) as f32);
                if u > worst_seen.0 {
                    worst_seen = (u, x, y);
                }
            }
        }
        let (u, x, y) = worst_seen;
        assert!(u <= 1, "pow: worst {u} ulp at x = {x}, y = {y}");
    }

    /// `f` over `xs` through the slice kernel.
    fn through_slices(xs: &[f32], f: fn(&[f32], &mut [MaybeUninit<f32>])) -> Vec<f32> {
        let mut out = vec![MaybeUninit::uninit(); xs.len()];
        f(xs, &mut out);
        // SAFETY: the kernel writes every slot it is given
        out.into_iter()
            .map(|v| unsafe { v.assume_init() })
            .collect()
    }

    #[test]
    fn sin_and_cos_are_within_one_ulp_of_libm() {
        use std::f32::consts::{FRAC_PI_2, PI};
        // every 409th bit pattern (10.5M floats: most beyond 2^28, where the
        // blocks fall back to libm) plus 4M evenly spaced over (−2^27, 2^27)
        let wide: Vec<f32> = dense(STRIDE, &[1e-45, -1e-45, FRAC_PI_2, PI]).collect();
        let near: Vec<f32> = (0..3_000_000u32)
            .map(|i| (i as f32 - 1.5e6) * 4.0e-3)
            .chain((0..1_000_000u32).map(|i| (i as f32 - 5.0e5) * 268.435_45))
            .collect();
        for xs in [&wide, &near] {
            for (name, kernel, reference) in [
                (
                    "sin",
                    sin_f32s as fn(&[f32], &mut [MaybeUninit<f32>]),
                    f64::sin as fn(f64) -> f64,
                ),
                ("cos", cos_f32s, f64::cos),
            ] {
                let got = through_slices(xs, kernel);
                let (u, at) = xs
                    .iter()
                    .zip(&got)
                    .map(|(&x, &y)| (ulps(y, reference(f64::from(x)) as f32), x.to_bits()))
                    .max()
                    .unwrap();
                assert!(
                    u <= 1,
                    "{name}: worst {u} ulp at x = {}",
                    f32::from_bits(at)
                );
            }
        }
    }

    #[test]
    fn sin_and_cos_keep_libms_special_values_in_mixed_blocks() {
        let xs = [
            0.0,
            -0.0,
            f32::INFINITY,
            f32::NEG_INFINITY,
            f32::NAN,
            1e30,
            -3e9,
            SINCOS_REDUCE_MAX,
            -SINCOS_REDUCE_MAX,
            1.0,
            -2.5,
        ];
        let sines = through_slices(&xs, sin_f32s);
        let cosines = through_slices(&xs, cos_f32s);
        for (i, &x) in xs.iter().enumerate() {
            if x.abs() > SINCOS_REDUCE_MAX || !x.is_finite() {
                assert!(
                    same(sines[i], x.sin()) && same(cosines[i], x.cos()),
                    "x = {x}"
                );
            }
        }
        assert_eq!(sines[1].to_bits(), (-0.0f32).to_bits());
        assert_eq!(sines[0].to_bits(), 0);
        assert_eq!(cosines[0], 1.0);
    }
}
