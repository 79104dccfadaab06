// Public entry point of transformer-native.
export { addon as native } from './native';
