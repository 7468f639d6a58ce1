// A faithful port of Go's text/tabwriter (flags 0, left-aligned): kubeadm renders its tables with it, and scripts
// depend on the exact spacing, trailing blanks included.

export interface TabwriterOptions {
  minwidth: number;
  tabwidth: number;
  padding: number;
  padchar: string;
}

export function tabwrite(text: string, options: TabwriterOptions): string {
  const lines = text.split('\n');
  const trailingNewline = text.endsWith('\n');
  if (trailingNewline) lines.pop();
  const cells = lines.map((line) => line.split('\t'));
  const widths: number[] = [];
  let out = '';

  const writeLines = (line0: number, line1: number): void => {
    for (let i = line0; i < line1; i++) {
      const line = cells[i];
      line.forEach((cell, j) => {
        if (j < widths.length) out += cell + options.padchar.repeat(Math.max(0, widths[j] - [...cell].length));
        else out += cell;
      });
      if (i < lines.length - 1 || trailingNewline) out += '\n';
    }
  };

  const format = (line0: number, line1: number): void => {
    const column = widths.length;
    for (let current = line0; current < line1; current++) {
      if (column >= cells[current].length - 1) continue;
      writeLines(line0, current);
      line0 = current;
      let width = options.minwidth;
      for (; current < line1; current++) {
        const line = cells[current];
        if (column >= line.length - 1) break;
        width = Math.max(width, [...line[column]].length + options.padding);
      }
      widths.push(width);
      format(line0, current);
      widths.pop();
      line0 = current;
    }
    writeLines(line0, line1);
  };

  format(0, cells.length);
  return out;
}
