import { renderSVG } from 'uqr';

/**
 * A QR code as SVG markup: dark modules on white whatever the console's theme (scanners want the
 * contrast they were made for), with the quiet zone around it.
 */
export function qrSvg(text: string): string {
  return renderSVG(text, { ecc: 'M', border: 2, pixelSize: 6, whiteColor: '#ffffff', blackColor: '#000000' });
}
