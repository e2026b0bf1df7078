import { renderSVG } from 'uqr';

/** A QR code as an image address (`data:image/svg+xml`), for an `<img>`: no markup is inserted into the page. */
export function qrImage(text: string): string {
  return `data:image/svg+xml,${encodeURIComponent(qrSvg(text))}`;
}

/**
 * A QR code as SVG markup: dark modules on white whatever the console's theme (scanners want the
 * contrast they were made for), with the quiet zone around it.
 */
export function qrSvg(text: string): string {
  return renderSVG(text, { ecc: 'M', border: 2, pixelSize: 6, whiteColor: '#ffffff', blackColor: '#000000' });
}
