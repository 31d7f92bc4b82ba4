// bfloat16 and IEEE float16 storage types and their float32 conversions,
// bit-identical to c10::BFloat16 and c10::Half on CPU.
//
// Both narrowing conversions round to nearest, ties to even, as the
// hardware does. NaN handling follows c10: float -> bfloat16 turns every NaN
// into 0x7FC0 (sign dropped); float -> float16 turns every NaN into 0x7E00
// with the sign kept. Widening conversions are exact.
#ifndef POOLCAT_CORE_FLOAT16_H_
#define POOLCAT_CORE_FLOAT16_H_

#include <cstdint>
#include <cstring>

namespace poolcat {

// Raw bit containers: arithmetic happens in float32 after conversion.
struct BFloat16 {
  uint16_t bits;
};
struct Float16 {
  uint16_t bits;
};

inline uint32_t FloatBits(float f) {
  uint32_t u;
  std::memcpy(&u, &f, sizeof(u));
  return u;
}

inline float FloatFromBits(uint32_t u) {
  float f;
  std::memcpy(&f, &u, sizeof(f));
  return f;
}

inline float BFloat16ToFloat(BFloat16 h) {
  return FloatFromBits(static_cast<uint32_t>(h.bits) << 16);
}

inline BFloat16 FloatToBFloat16(float f) {
  const uint32_t u = FloatBits(f);
  if ((u & 0x7FFFFFFFu) > 0x7F800000u) return BFloat16{0x7FC0};
  // Adding 0x7FFF plus the lowest kept bit rounds half-way cases to even.
  const uint32_t rounding_bias = ((u >> 16) & 1u) + 0x7FFFu;
  return BFloat16{static_cast<uint16_t>((u + rounding_bias) >> 16)};
}

inline float Float16ToFloat(Float16 h) {
  const uint32_t sign = static_cast<uint32_t>(h.bits & 0x8000u) << 16;
  const uint32_t exponent = (h.bits >> 10) & 0x1Fu;
  uint32_t mantissa = h.bits & 0x3FFu;
  uint32_t bits;
  if (exponent == 0x1F) {  // inf or NaN: keep the payload
    bits = sign | 0x7F800000u | (mantissa << 13);
  } else if (exponent != 0) {  // normal
    bits = sign | ((exponent + 112u) << 23) | (mantissa << 13);
  } else if (mantissa == 0) {  // signed zero
    bits = sign;
  } else {  // subnormal: value is mantissa * 2^-24, exact in float32
    const float magnitude =
        static_cast<float>(mantissa) * 5.9604644775390625e-8f;
    bits = sign | FloatBits(magnitude);
  }
  return FloatFromBits(bits);
}

inline Float16 FloatToFloat16(float f) {
  uint32_t u = FloatBits(f);
  const uint16_t sign = static_cast<uint16_t>((u >> 16) & 0x8000u);
  u &= 0x7FFFFFFFu;
  if (u > 0x7F800000u) return Float16{static_cast<uint16_t>(sign | 0x7E00u)};
  if (u >= 0x47800000u) {  // >= 65536 (or inf): overflows to inf
    return Float16{static_cast<uint16_t>(sign | 0x7C00u)};
  }
  if (u < 0x38800000u) {
    // Below 2^-14, the float16 subnormal range: adding 0.5f puts the float16
    // ulp (2^-24) exactly at the float32 ulp of 0.5, so the FPU's own
    // round-to-nearest-even does the rounding.
    const float shifted = FloatFromBits(u) + 0.5f;
    return Float16{
        static_cast<uint16_t>(sign | (FloatBits(shifted) - 0x3F000000u))};
  }
  // Normal range: re-bias the exponent (127 -> 15) and round the 13 dropped
  // mantissa bits to nearest even; a carry correctly bumps the exponent (up
  // to inf for values in [65520, 65536)).
  const uint32_t odd = (u >> 13) & 1u;
  u += 0xC8000FFFu + odd;
  return Float16{static_cast<uint16_t>(sign | (u >> 13))};
}

}  // namespace poolcat

#endif  // POOLCAT_CORE_FLOAT16_H_
