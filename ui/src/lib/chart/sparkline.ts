/**
 * The SVG path of a small line chart scaled to `width` × `height` (y grows downwards), with
 * a flat line in the middle when every value is equal, and nothing for fewer than 2 points.
 */
export function sparklinePath(values: readonly number[], width: number, height: number, pad = 1): string {
  if (values.length < 2) return '';
  let min = Infinity;
  let max = -Infinity;
  for (const v of values) {
    if (v < min) min = v;
    if (v > max) max = v;
  }
  const span = max - min;
  const step = (width - pad * 2) / (values.length - 1);
  const inner = height - pad * 2;
  return values
    .map((v, i) => {
      const x = pad + i * step;
      const y = span === 0 ? height / 2 : pad + inner - ((v - min) / span) * inner;
      return `${i === 0 ? 'M' : 'L'}${round(x)},${round(y)}`;
    })
    .join(' ');
}

function round(n: number): number {
  return Math.round(n * 100) / 100;
}
