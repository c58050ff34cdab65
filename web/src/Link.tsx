import type { ReactNode } from 'react';
import { onLinkClick } from './router.js';

export function Link(props: { to: string; children: ReactNode; className?: string; 'aria-current'?: 'page' | undefined }) {
  return (
    <a href={props.to} onClick={onLinkClick} className={props.className} aria-current={props['aria-current']}>
      {props.children}
    </a>
  );
}
